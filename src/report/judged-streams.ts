/**
 * The per-request side of a report, shared by replay and shadow: every judged
 * request to results.ndjson, every mismatch and unanswered request to
 * diffs.ndjson (streamed, bounded), and the top diffs with a few whole
 * examples kept for report.html (bodies shown decoded: a gzip body reads as
 * its JSON).
 */
import type { ResponseSample } from '../compare/types.js';
import { DEFAULT_DECODE_LIMIT, readableBody } from '../core/content-coding.js';
import type { JudgedRequest } from '../gates/types.js';
import { createDiffCollector, type DiffCollector } from './diff-collector.js';
import { createDiffWriter, createResultsWriter } from './ndjson-writer.js';
import type { DiffRecord, ResultRecord } from './types.js';

export interface JudgedStreams {
  readonly collector: DiffCollector;
  /** diff records dropped because the bounded buffer was full */
  readonly diffsDropped: number;
  /**
   * One judged request. `isMismatch` is the caller's verdict (noise taken out);
   * `bodies` are read only while the endpoint still wants an example.
   */
  record(j: JudgedRequest, isMismatch: boolean, bodies?: SampleBodies, error?: string): void;
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Both responses of a mismatch, as received (the headers say how to decode each body). */
export interface SampleBodies {
  baseline: ResponseSample;
  candidate: ResponseSample;
}

export interface JudgedStreamsOptions {
  /** decode cap for the bodies of samples: compare.max_body_bytes */
  maxDecodedBytes?: number;
}

/** A body as a sample shows it: decoded, or a sentence saying why it stays bytes. */
function sampleBody(s: ResponseSample, maxBytes: number): Buffer | string {
  if (s.isDecoded === true) return s.body;
  const r = readableBody(s.body, s.headers, maxBytes);
  if (r.decoding?.isDecoded === false) return `<${s.body.length} bytes, Content-Encoding: ${r.decoding.codings.join(', ')}, not decoded: ${r.decoding.message}>`;
  return r.body;
}

/** Where the recorder's lines go: the report directory's files, or a buffer a worker ships. */
export interface JudgedSinks {
  diffs: { write(record: DiffRecord): unknown };
  results: { write(record: ResultRecord): unknown };
}

export type JudgedRecord = JudgedStreams['record'];

/** The per-request step of a report, apart from where its lines go. */
export function createJudgedRecorder(sinks: JudgedSinks, collector: DiffCollector, opts: JudgedStreamsOptions = {}): JudgedRecord {
  const maxDecoded = opts.maxDecodedBytes ?? DEFAULT_DECODE_LIMIT;
  const { diffs, results } = sinks;
  return (j, isMismatch, bodies, error) => {
    const o = j.outcome;
    results.write({ exchangeId: j.exchangeId, endpoint: j.endpoint, status: j.candidateStatus, durationMs: j.candidateMs, isMatch: j.isAnswered && o?.isMatch === true });
    const known = j.isKnownMismatch === undefined ? {} : { isKnownMismatch: j.isKnownMismatch };
    if (!j.isAnswered) {
      diffs.write({
        exchangeId: j.exchangeId,
        endpoint: j.endpoint,
        result: 'error',
        baselineStatus: j.baselineStatus,
        candidateStatus: undefined,
        diffs: [],
        flags: [],
        ...known,
        ...(error === undefined ? {} : { error }),
      });
      return;
    }
    if (!isMismatch || o === undefined) return;
    diffs.write({
      exchangeId: j.exchangeId,
      endpoint: j.endpoint,
      result: 'mismatch',
      baselineStatus: j.baselineStatus,
      candidateStatus: j.candidateStatus,
      diffs: o.diffs,
      ...(o.omittedDiffs === undefined ? {} : { omittedDiffs: o.omittedDiffs }),
      flags: o.flags,
      ...known,
    });
    const subject = { exchangeId: j.exchangeId, endpoint: j.endpoint, baselineStatus: j.baselineStatus, candidateStatus: j.candidateStatus, outcome: o };
    if (bodies === undefined || !collector.wantsSample(j.endpoint, j.exchangeId)) collector.add(subject);
    else collector.add(subject, { baseline: sampleBody(bodies.baseline, maxDecoded), candidate: sampleBody(bodies.candidate, maxDecoded) });
  };
}

export function createJudgedStreams(dir: string, opts: JudgedStreamsOptions = {}): JudgedStreams {
  const diffs = createDiffWriter(dir);
  const results = createResultsWriter(dir);
  const collector = createDiffCollector();
  return {
    collector,
    get diffsDropped() {
      return diffs.dropped;
    },
    record: createJudgedRecorder({ diffs, results }, collector, opts),
    flush: async () => {
      await Promise.all([diffs.flush(), results.flush()]);
    },
    close: async () => {
      await Promise.all([diffs.close(), results.close()]);
    },
  };
}
