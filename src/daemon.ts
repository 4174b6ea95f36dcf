/**
 * Composition root of the long-running commands: builds the logger, the
 * metrics registry, the admin providers, the recording store and the admin
 * server from the one resolved, frozen config, and owns their lifecycle.
 * Commands get their components from here, never from module singletons.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import { collectDefaultMetrics } from 'prom-client';
import type { Writable } from 'node:stream';
import pino from 'pino';
import type { ResolvedConfig, ResolvedRecord, ResolvedTimeouts } from './config/resolve.js';
import type { RuntimeEnv } from './config/env.js';
import { usageError } from './core/errors.js';
import { createLogger, type LogFormat, type Logger } from './core/logger.js';
import { createMetrics, type Metrics } from './metrics/metrics.js';
import { createAdminProviders, type AdminProviders } from './admin/types.js';
import { startAdminServer, type AdminServer } from './admin/server.js';
import type { ProxyLimits, ProxyTimeouts } from './capture/http-capture-proxy.js';
import { createRecorder, type Recorder } from './capture/recorder.js';
import { grpcExchangeConverter } from './capture/grpc-converter.js';
import { resolveRedactKey, type Redactor } from './core/redact.js';
import { redactorFromConfig } from './config/redactor.js';
import { createSessionKeyer, parseSessionKey, type SessionKeyer } from './core/sessions.js';
import { isRedisStoreUrl, openStoreWriter } from './store/open-store.js';
import type { SpoolEvent } from './store/redis-store.js';
import type { ExchangeWriter } from './store/types.js';
import { loadServerTls, loadTargetTls, type ListenerTlsConfig, type ServerTls, type TargetTls, type TargetTlsConfig } from './core/tls.js';

/** Something a long-running command started that must stop cleanly. */
export interface Closable {
  close(): Promise<void>;
}

/** The store `record.out` names, with the redactor and the recorder in front of it. */
export interface Recording {
  /** `record.out`: a directory resolved against the working directory, or a redis:// URL */
  readonly out: string;
  readonly recorderId: string;
  /** the store itself, for recorders that write whole exchanges (Postgres relays) */
  readonly writer: ExchangeWriter;
  readonly recorder: Recorder;
  readonly redactor: Redactor;
  /** one session keyer for every recorder of the process (HTTP and gRPC), so one user's calls form one session */
  readonly sessionKeyer: SessionKeyer;
}

export interface Daemon {
  readonly config: Readonly<ResolvedConfig>;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly providers: AdminProviders;
  /** set once startAdmin resolved */
  readonly admin: AdminServer | undefined;
  startAdmin(listen?: string): Promise<AdminServer>;
  /** a listener's certificate, checked now and re-read on every reload (SIGHUP); `label` is its config key */
  serverTls(cfg: ListenerTlsConfig | undefined, label: string): Promise<ServerTls | undefined>;
  /** a target's CA and client certificate, checked now; paths resolve against the working directory */
  targetTls(cfg: TargetTlsConfig | undefined, label: string): TargetTls | undefined;
  /** writers of passthrough exchanges, one per directory, shared by the mocks; close() closes them */
  readonly writers: Map<string, ExchangeWriter>;
  /** opens the store of `record.out` behind a recorder (redaction, queue, quota) and lists it on GET /api/record; close() drains it */
  openRecording(): Promise<Recording>;
  /** starts the admin API when `admin.enabled`, calls `ready`, then resolves when the command is told to stop */
  serve(signal: AbortSignal, ready?: () => void): Promise<void>;
  /** drains the recorder, closes the passthrough writers and the admin server, flushes logs; listeners close first */
  close(): Promise<void>;
}

export interface DaemonOptions {
  config: Readonly<ResolvedConfig>;
  runtime: RuntimeEnv;
  /** log destination; stderr when absent. Its isTTY picks the format when log.format is auto. */
  logStream?: Writable & { isTTY?: boolean };
  /** fires `reload` (SIGHUP): certificates are re-read */
  reload?: EventTarget | undefined;
  /** relative certificate paths resolve against it */
  cwd?: string | undefined;
}

export function createDaemon(opts: DaemonOptions): Daemon {
  const log = createLogger({
    level: opts.config.log.level as pino.LevelWithSilent,
    format: opts.config.log.format as LogFormat,
    ...(opts.logStream ? { destination: opts.logStream } : {}),
  });
  const metrics = createMetrics();
  // Process, heap, event-loop lag and GC pause metrics beside doppel's own: a sidecar's
  // effect on the service it fronts shows first in its pauses. The GC buckets resolve
  // the 1 ms pauses that move a primary's p99.
  collectDefaultMetrics({ register: metrics.registry, gcDurationBuckets: [0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.1, 1] });
  const providers = createAdminProviders();
  let admin: AdminServer | undefined;
  const certificates: ServerTls[] = [];
  const onReload = () => {
    // Each failure is logged by its ServerTls and leaves its current certificate in place.
    for (const c of certificates) c.reload().catch(() => undefined);
  };
  opts.reload?.addEventListener('reload', onReload);
  const serverTls = async (cfg: ListenerTlsConfig | undefined, label: string) => {
    const tls = await loadServerTls(cfg, { label, log, cwd: opts.cwd });
    if (tls !== undefined) certificates.push(tls);
    return tls;
  };
  const writers = new Map<string, ExchangeWriter>();
  let recording: Recording | undefined;
  const startAdmin = async (listen = opts.config.admin.listen) => {
    const tls = await serverTls(opts.config.admin.tls, 'admin.tls');
    admin = await startAdminServer({ listen, token: opts.runtime.adminToken, metrics, log, providers, tls });
    return admin;
  };
  return {
    config: opts.config,
    log,
    metrics,
    providers,
    get admin() {
      return admin;
    },
    startAdmin,
    serverTls,
    targetTls: (cfg, label) => loadTargetTls(cfg, label, opts.cwd),
    writers,
    async openRecording() {
      recording = await openRecording(opts, log, metrics);
      const { out, recorder } = recording;
      providers.recorders.push({ pause: () => recorder.pause(), resume: () => recorder.resume(), status: () => ({ out, ...recorder.status() }) });
      return recording;
    },
    async serve(signal, ready) {
      // Long-running: the admin API is on by default (DESIGN.md).
      if (opts.config.admin.enabled) await startAdmin();
      ready?.();
      await waitForAbort(signal);
    },
    async close() {
      opts.reload?.removeEventListener('reload', onReload);
      if (recording) await recording.recorder.close();
      recording = undefined;
      for (const w of writers.values()) await w.close();
      writers.clear();
      if (admin) await admin.close();
      admin = undefined;
      log.flush();
    },
  };
}

/** Resolves once the command is told to stop (SIGINT/SIGTERM). */
export function waitForAbort(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

async function openRecording(opts: DaemonOptions, log: Logger, metrics: Metrics): Promise<Recording> {
  const { config } = opts;
  const rec = config.record;
  const cwd = opts.cwd ?? '.';
  if (rec.out === undefined) throw usageError('record needs --out DIR (or record.out in the config file)');
  const out = isRedisStoreUrl(rec.out) ? rec.out : resolvePath(cwd, rec.out);
  const key = await resolveRedactKey({ envKey: opts.runtime.redactKey, keyFile: config.redact.key_file, trafficDirs: [out], cwd });
  if (key.source === 'generated' && config.redact.enabled) {
    log.warn('no DOPPEL_REDACT_KEY or redact.key_file: using a random key, so redaction placeholders will not be stable across runs');
  }
  const redactor = redactorFromConfig(config.redact, key.key, (kind) => metrics.redactions.inc({ kind }));
  const recorderId = rec.recorder_id ?? defaultRecorderId(process.pid);
  const storeLog = log.child({ component: 'store' });
  const writer = await openStoreWriter(out, {
    gzip: rec.gzip,
    segmentBytes: rec.segment_bytes,
    recorderId,
    spool: {
      dir: config.store.spool.dir === undefined ? undefined : resolvePath(cwd, config.store.spool.dir),
      maxBytes: config.store.spool.max_bytes,
    },
    onSpool: (e) => logSpool(storeLog, e),
  });
  const sessionKeyer = createSessionKeyer(parseSessionKey(config.sessions.key), (v) => redactor.placeholder(v), config.redact.headers, recorderId);
  const recorder = createRecorder({
    writer,
    log: log.child({ component: 'recorder' }),
    metrics,
    redactor,
    sessionKeyer,
    queueItems: rec.queue_items,
    queueBytes: rec.queue_bytes,
    quotaBytes: rec.quota_bytes,
    maxDecodedBytes: config.compare.max_body_bytes,
    // gRPC calls on the HTTP proxy (h2 or h2c) are stored as grpc exchanges, as the gRPC listener stores them.
    converters: [grpcExchangeConverter],
  });
  return { out, recorderId, writer, recorder, redactor, sessionKeyer };
}

/** Host name and pid name the process in logs; the random part keeps a restarted pid apart. */
function defaultRecorderId(pid: number): string {
  const host = hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 40) || 'host';
  return `${host}-${pid}-${randomBytes(3).toString('hex')}`;
}

function logSpool(log: Logger, e: SpoolEvent): void {
  switch (e.kind) {
    case 'spooling':
      log.warn({ err: e.err, spool: e.dir }, 'redis store unreachable: recording into the local spool until it returns');
      return;
    case 'drained':
      log.info({ batches: e.batches }, 'redis store back: spool drained');
      return;
    case 'dropped':
      log.warn({ exchanges: e.exchanges, reason: e.reason }, 'redis store unreachable and the spool cannot hold more: exchanges dropped');
      return;
    default: {
      const never: never = e;
      return never;
    }
  }
}

/** `record.timeouts` as the capture proxy takes them; record and shadow front their service with the same proxy. */
/** `record.max_header_bytes` and `record.max_connections` as the capture proxy takes them (record and shadow listeners alike). */
export function proxyLimitsOf(rec: Readonly<Pick<ResolvedRecord, 'max_header_bytes' | 'max_connections'>>): ProxyLimits {
  return { maxHeaderBytes: rec.max_header_bytes, maxConnections: rec.max_connections };
}

export function proxyTimeoutsOf(t: Readonly<ResolvedTimeouts>): ProxyTimeouts {
  return { headersMs: t.headers_ms, requestMs: t.request_ms, keepAliveMs: t.keep_alive_ms, upstreamMs: t.upstream_ms };
}
