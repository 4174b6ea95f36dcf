/** What the recorders of one `doppel record` share; a file of its own so each protocol's wiring imports it without importing record.ts back. */
import type { ResolvedConfig } from '../config/resolve.js';
import type { Daemon } from '../daemon.js';
import type { Redactor } from '../core/redact.js';
import type { Recorder } from '../capture/recorder.js';
import type { createRecordFilter } from '../capture/record-filter.js';
import type { TraceLinks } from '../protocols/http/trace-links.js';
import type { ProxyLimits, ProxyTimeouts } from '../capture/http-capture-proxy.js';

/** What every dependency kind's recorder gets: one store, one redactor, one trace map, one daemon. */
export interface RecordShared {
  config: Readonly<ResolvedConfig>;
  daemon: Daemon;
  recorder: Recorder;
  redactor: Redactor;
  traceLinks: TraceLinks;
  timeouts: ProxyTimeouts;
  limits: ProxyLimits;
  maxBodyBytes: number;
  decide: ReturnType<typeof createRecordFilter>;
}
