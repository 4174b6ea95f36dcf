import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import { Option, type Command } from 'commander';
import { ExitCode, usageError } from '../core/errors.js';
import { collect, loadCommandConfig, numeric, setIn, type CommandContext } from './context.js';
import { parseDepSpec } from './dep-spec.js';
import type { Bind } from './program.js';
import type { DoppelConfig, HttpDepConfig, PgDepConfig } from '../config/schema.js';
import { parseDurationMs, parseSizeBytes } from '../config/duration.js';
import { createDaemon, type Daemon } from '../daemon.js';
import { createRedactor, resolveRedactKey, type Redactor } from '../core/redact.js';
import { createSessionKeyer, parseSessionKey } from '../core/sessions.js';
import { isRedisStoreUrl, openStoreWriter } from '../store/open-store.js';
import type { ExchangeWriter } from '../store/types.js';
import type { SpoolEvent } from '../store/redis-store.js';
import type { Logger } from '../core/logger.js';
import { createPgRecorder } from '../capture/pg-recorder.js';
import { parseHostPort } from '../core/address.js';
import { createRecorder, type Recorder } from '../capture/recorder.js';
import { createRecordFilter } from '../capture/record-filter.js';
import { createTraceLinks, type TraceLinks } from '../capture/trace-links.js';
import { startHttpCaptureProxy, type HttpCaptureProxy, type ProxyLimits, type ProxyTimeouts } from '../capture/http-capture-proxy.js';
import type { ServerTls, TargetTls } from '../core/tls.js';

export interface RecordFlags {
  out?: string;
  listen?: string;
  upstream?: string;
  service?: string;
  httpDep?: string[];
  pgDep?: string[];
  sample?: string;
  gzip?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  recorderId?: string;
}

export function registerRecordCommand(program: Command, bind: Bind): Command {
  return program
    .command('record')
    .description('Record inbound traffic through a reverse proxy and outbound calls through dependency ports')
    .option('--out <dir>', 'traffic directory to write (created owner-only), or a redis:// URL')
    .option('--listen <addr>', 'inbound proxy address host:port (port 0 picks a free port)')
    .option('--upstream <url>', 'the service the inbound proxy forwards to')
    .option('--service <name>', 'name recorded for the service behind the inbound proxy (default "app")')
    .option('--http-dep <spec>', 'HTTP dependency NAME=LISTEN,TARGET_URL (repeatable)', collect)
    .option('--pg-dep <spec>', 'Postgres dependency NAME=LISTEN,TARGET_HOST:PORT (repeatable)', collect)
    .option('--sample <rate>', 'share of exchanges recorded, 0..1')
    .option('--tls-cert <file>', 'serve the inbound proxy over TLS with this PEM certificate (record.tls.cert)')
    .option('--tls-key <file>', 'the PEM private key of --tls-cert (record.tls.key)')
    .addOption(new Option('--gzip', 'write gzip segments'))
    .option('--recorder-id <id>', 'names this recorder among those writing one store; prefixes its connection sessions (default host-pid-random)')
    .action(bind<RecordFlags>(runRecord));
}

/** What every dependency kind's recorder gets: one store, one redactor, one trace map, one daemon. */
export interface RecordShared {
  config: Readonly<DoppelConfig>;
  daemon: Daemon;
  recorder: Recorder;
  redactor: Redactor;
  traceLinks: TraceLinks;
  timeouts: ProxyTimeouts;
  limits: ProxyLimits;
  maxBodyBytes: number;
  decide: ReturnType<typeof createRecordFilter>;
}

/** Something started by `record` that must stop cleanly. */
export interface Closable {
  close(graceMs?: number): Promise<void>;
}

export async function runRecord(flags: RecordFlags, ctx: CommandContext): Promise<ExitCode> {
  const config = loadCommandConfig(ctx, (raw) => {
    if (flags.out !== undefined) setIn(raw, ['record', 'out'], flags.out);
    if (flags.listen !== undefined) setIn(raw, ['record', 'listen'], flags.listen);
    if (flags.upstream !== undefined) setIn(raw, ['record', 'upstream'], flags.upstream);
    if (flags.service !== undefined) setIn(raw, ['record', 'service'], flags.service);
    if (flags.gzip === true) setIn(raw, ['record', 'gzip'], true);
    if (flags.recorderId !== undefined) setIn(raw, ['record', 'recorder_id'], flags.recorderId);
    if (flags.sample !== undefined) setIn(raw, ['record', 'sample'], numeric(flags.sample));
    if (flags.tlsCert !== undefined) setIn(raw, ['record', 'tls', 'cert'], flags.tlsCert);
    if (flags.tlsKey !== undefined) setIn(raw, ['record', 'tls', 'key'], flags.tlsKey);
    if (flags.httpDep !== undefined) {
      const record = (raw.record ?? {}) as Record<string, unknown>;
      const existing = Array.isArray(record.http_deps) ? (record.http_deps as unknown[]) : [];
      setIn(raw, ['record', 'http_deps'], [...existing, ...flags.httpDep.map((v) => parseDepSpec('--http-dep', v, true))]);
    }
    if (flags.pgDep !== undefined) {
      const record = (raw.record ?? {}) as Record<string, unknown>;
      const existing = Array.isArray(record.pg_deps) ? (record.pg_deps as unknown[]) : [];
      setIn(raw, ['record', 'pg_deps'], [...existing, ...flags.pgDep.map((v) => parseDepSpec('--pg-dep', v, true))]);
    }
  });
  const rec = config.record;
  if (rec.out === undefined) throw usageError('record needs --out DIR (or record.out in the config file)');
  if (rec.upstream === undefined && rec.http_deps.length === 0 && rec.pg_deps.length === 0) {
    throw usageError('record needs --upstream URL for the inbound proxy and/or at least one --http-dep NAME=LISTEN,TARGET_URL or --pg-dep NAME=LISTEN,HOST:PORT');
  }
  for (const dep of rec.pg_deps) {
    if (dep.target === undefined) throw usageError(`--pg-dep ${dep.name}: record needs the real server's HOST:PORT (NAME=LISTEN,HOST:PORT)`);
  }
  const outDir = isRedisStoreUrl(rec.out) ? rec.out : resolvePath(ctx.io.cwd, rec.out);
  const daemon = createDaemon({ config, runtime: ctx.runtime, logStream: ctx.io.stderr, reload: ctx.io.reload, cwd: ctx.io.cwd });
  const log = daemon.log;
  const started: Closable[] = [];
  let recorder: Recorder | undefined;
  try {
    const key = await resolveRedactKey({ envKey: ctx.runtime.redactKey, keyFile: config.redact.key_file, trafficDirs: [outDir], cwd: ctx.io.cwd });
    if (key.source === 'generated' && config.redact.enabled) {
      log.warn('no DOPPEL_REDACT_KEY or redact.key_file: using a random key, so redaction placeholders will not be stable across runs');
    }
    const redactor = createRedactor({
      key: key.key,
      enabled: config.redact.enabled,
      headers: config.redact.headers,
      queryParams: config.redact.query_params,
      jsonPaths: config.redact.json_paths,
      onRedact: (kind) => daemon.metrics.redactions.inc({ kind }),
    });
    const recorderId = rec.recorder_id ?? defaultRecorderId(process.pid);
    const storeLog = log.child({ component: 'store' });
    const writer = await openStoreWriter(outDir, {
      gzip: rec.gzip,
      segmentBytes: size(rec.segment_bytes, 64 * 1024 * 1024),
      recorderId,
      spool: {
        dir: config.store.spool.dir === undefined ? undefined : resolvePath(ctx.io.cwd, config.store.spool.dir),
        maxBytes: size(config.store.spool.max_bytes, 128 * 1024 * 1024),
      },
      onSpool: (e) => logSpool(storeLog, e),
    });
    recorder = createRecorder({
      writer,
      log: log.child({ component: 'recorder' }),
      metrics: daemon.metrics,
      redactor,
      sessionKeyer: createSessionKeyer(parseSessionKey(config.sessions.key), (v) => redactor.placeholder(v), config.redact.headers, recorderId),
      queueItems: rec.queue_items,
      queueBytes: size(rec.queue_bytes, 64 * 1024 * 1024),
      quotaBytes: rec.quota_bytes === undefined ? undefined : size(rec.quota_bytes, 0),
      maxDecodedBytes: size(config.compare.max_body_bytes, 1024 * 1024),
    });
    const rc = recorder;
    daemon.providers.recorders.push({ pause: () => rc.pause(), resume: () => rc.resume(), status: () => ({ out: outDir, ...rc.status() }) });
    const shared: RecordShared = {
      config,
      daemon,
      recorder,
      redactor,
      traceLinks: createTraceLinks(),
      timeouts: {
        headersMs: duration(rec.timeouts.headers, 30_000),
        requestMs: duration(rec.timeouts.request, 300_000),
        keepAliveMs: duration(rec.timeouts.keep_alive, 5_000),
        upstreamMs: duration(rec.timeouts.upstream, 30_000),
      },
      limits: { maxHeaderBytes: size(rec.max_header_bytes, 16 * 1024), maxConnections: rec.max_connections },
      maxBodyBytes: size(rec.max_body_bytes, 1024 * 1024),
      decide: createRecordFilter({ sample: rec.sample, include: rec.include, exclude: rec.exclude, excludeHealth: rec.exclude_health }),
    };
    // Certificates are checked before any port opens: a bad file is exit 2 with nothing half started.
    const inboundTls = await daemon.serverTls(rec.tls, 'record.tls');
    const upstreamTls = daemon.targetTls(rec.upstream_tls, 'record.upstream_tls');
    // Dependencies first, so the service's outbound calls have somewhere to go once inbound traffic flows.
    started.push(...(await startHttpDeps(shared, rec.http_deps)));
    started.push(...(await startPgDeps(shared, writer, rec.pg_deps, recorderId)));
    if (rec.upstream !== undefined) started.push(await startInbound(shared, rec.upstream, inboundTls, upstreamTls));
    if (config.admin.enabled) await daemon.startAdmin();
    log.info({ out: outDir }, 'recording; stop with Ctrl-C');
    await waitForAbort(ctx.io.signal);
    log.info('stopping: closing listeners and flushing the traffic store');
  } finally {
    for (const s of started.reverse()) await s.close();
    if (recorder) await recorder.close();
    await daemon.close();
  }
  return ExitCode.ok;
}

async function startInbound(shared: RecordShared, upstream: string, tls: ServerTls | undefined, targetTls: TargetTls | undefined): Promise<HttpCaptureProxy> {
  const rec = shared.config.record;
  return startHttpCaptureProxy({
    listen: rec.listen,
    listenFlag: '--listen ADDR (record.listen)',
    target: upstream,
    tls,
    targetTls,
    service: rec.service,
    direction: 'inbound',
    sink: shared.recorder,
    decide: shared.decide,
    maxBodyBytes: shared.maxBodyBytes,
    timeouts: shared.timeouts,
    limits: shared.limits,
    rewriteHost: rec.rewrite_host,
    traceLinks: shared.traceLinks,
    log: shared.daemon.log,
    metrics: shared.daemon.metrics,
  });
}

/** One dependency port per --http-dep: proxies to the real dependency, records outbound exchanges. */
async function startHttpDeps(shared: RecordShared, deps: readonly HttpDepConfig[]): Promise<HttpCaptureProxy[]> {
  const out: HttpCaptureProxy[] = [];
  for (const dep of deps) {
    if (dep.target === undefined) throw usageError(`--http-dep ${dep.name}: record needs the real dependency's URL (NAME=LISTEN,TARGET_URL)`);
    out.push(
      await startHttpCaptureProxy({
        listen: dep.listen,
        listenFlag: `--http-dep ${dep.name}=LISTEN,TARGET_URL (record.http_deps)`,
        target: dep.target,
        targetTls: shared.daemon.targetTls(dep.target_tls, `record.http_deps[${dep.name}].target_tls`),
        service: dep.name,
        direction: 'outbound',
        sink: shared.recorder,
        decide: shared.decide,
        maxBodyBytes: shared.maxBodyBytes,
        timeouts: shared.timeouts,
        limits: shared.limits,
        rewriteHost: true,
        traceLinks: shared.traceLinks,
        log: shared.daemon.log,
        metrics: shared.daemon.metrics,
      }),
    );
  }
  return out;
}

/** One Postgres relay per --pg-dep: every byte passes through, statements are recorded off the relay path. */
async function startPgDeps(shared: RecordShared, writer: ExchangeWriter, deps: readonly PgDepConfig[], recorderId: string): Promise<Closable[]> {
  const rec = shared.config.record;
  const out: Closable[] = [];
  for (const dep of deps) {
    const relay = await createPgRecorder({
      service: dep.name,
      listen: parseHostPort(dep.listen, `--pg-dep ${dep.name} listen`),
      listenFlag: `--pg-dep ${dep.name}=LISTEN,HOST:PORT (record.pg_deps)`,
      target: parseHostPort(dep.target as string, `--pg-dep ${dep.name} target`),
      writer,
      log: shared.daemon.log,
      metrics: shared.daemon.metrics,
      queueItems: rec.queue_items,
      queueBytes: size(rec.queue_bytes, 64 * 1024 * 1024),
      recorderId,
      maxMessageBytes: size(rec.max_message_bytes, 16 * 1024 * 1024),
      maxConnections: rec.max_connections,
      loginTimeoutMs: duration(rec.timeouts.login, 60_000),
    });
    out.push(relay);
  }
  return out;
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

export function waitForAbort(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

function duration(v: string | number, fallback: number): number {
  return parseDurationMs(v) ?? fallback;
}

function size(v: string | number, fallback: number): number {
  return parseSizeBytes(v) ?? fallback;
}
