/**
 * What `doppel record` runs: an inbound reverse proxy and one port per
 * dependency, each recording through one store until a signal stops them.
 */
import { ExitCode, usageError } from '../core/errors.js';
import { numeric, setIn, type ConfigOverrides } from '../config/overrides.js';
import type { CommandContext } from './context.js';
import { parseDepSpec } from './dep-spec.js';
import type { HttpDepConfig, PgDepConfig } from '../config/schema.js';
import { createDaemon, proxyLimitsOf, proxyTimeoutsOf, type Closable, type Recording } from '../daemon.js';
import type { ExchangeWriter } from '../store/types.js';
import { startPgRecorder, type PgRecorder } from '../capture/pg-recorder.js';
import { parseHostPort } from '../core/address.js';
import { createRecordFilter } from '../capture/record-filter.js';
import { createTraceLinks } from '../protocols/http/trace-links.js';
import type { RecordShared } from './record-shared.js';
import { startHttpCaptureProxy, type HttpCaptureProxy } from '../capture/http-capture-proxy.js';
import type { ServerTls, TargetTls } from '../core/tls.js';
import { createGrpcSink, startGrpcDeps, startGrpcInbound } from './record-grpc.js';

export interface RecordFlags {
  out?: string;
  listen?: string;
  upstream?: string;
  service?: string;
  httpDep?: string[];
  pgDep?: string[];
  grpcDep?: string[];
  protocol?: string;
  sample?: string;
  gzip?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  recorderId?: string;
  upstreamH2?: boolean;
}

/** The record flags that have a config key, written over record.* before validation. */
export function recordOverrides(flags: RecordFlags): ConfigOverrides {
  return (raw) => {
    if (flags.out !== undefined) setIn(raw, ['record', 'out'], flags.out);
    if (flags.listen !== undefined) setIn(raw, ['record', 'listen'], flags.listen);
    if (flags.upstream !== undefined) setIn(raw, ['record', 'upstream'], flags.upstream);
    if (flags.upstreamH2 === true) setIn(raw, ['record', 'upstream_http2'], true);
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
    if (flags.protocol !== undefined) setIn(raw, ['record', 'protocol'], flags.protocol);
    if (flags.grpcDep !== undefined) {
      const record = (raw.record ?? {}) as Record<string, unknown>;
      const existing = Array.isArray(record.grpc_deps) ? (record.grpc_deps as unknown[]) : [];
      setIn(raw, ['record', 'grpc_deps'], [...existing, ...flags.grpcDep.map((v) => parseDepSpec('--grpc-dep', v, true))]);
    }
    if (flags.pgDep !== undefined) {
      const record = (raw.record ?? {}) as Record<string, unknown>;
      const existing = Array.isArray(record.pg_deps) ? (record.pg_deps as unknown[]) : [];
      setIn(raw, ['record', 'pg_deps'], [...existing, ...flags.pgDep.map((v) => parseDepSpec('--pg-dep', v, true))]);
    }
  };
}

export async function recordAction(_flags: RecordFlags, ctx: CommandContext): Promise<ExitCode> {
  const config = ctx.config;
  const rec = config.record;
  if (rec.out === undefined) throw usageError('record needs --out DIR (or record.out in the config file)');
  if (rec.upstream === undefined && rec.http_deps.length === 0 && rec.pg_deps.length === 0 && rec.grpc_deps.length === 0) {
    throw usageError('record needs --upstream URL for the inbound proxy and/or at least one --http-dep NAME=LISTEN,TARGET_URL, --grpc-dep NAME=LISTEN,TARGET_URL or --pg-dep NAME=LISTEN,HOST:PORT');
  }
  for (const dep of rec.pg_deps) {
    if (dep.target === undefined) throw usageError(`--pg-dep ${dep.name}: record needs the real server's HOST:PORT (NAME=LISTEN,HOST:PORT)`);
  }
  const daemon = createDaemon({ config, runtime: ctx.runtime, logStream: ctx.io.stderr, reload: ctx.io.reload, cwd: ctx.io.cwd });
  const log = daemon.log;
  const started: Closable[] = [];
  let unhookForcedStop: (() => void) | undefined;
  let recording: Recording | undefined;
  const pgRelays: PgRecorder[] = [];
  try {
    recording = await daemon.openRecording();
    const { out, writer, recorder, redactor, recorderId, sessionKeyer } = recording;
    unhookForcedStop = ctx.io.forcedStop?.add((deadline) => {
      // Statements first: they go to the same writer, which then writes everything at once.
      for (const pg of pgRelays) pg.drainSync();
      const r = recorder.flushSync(deadline);
      if (r === undefined) return;
      const fields = { written: r.written, lost: r.lost, where: r.where, ...(r.reason === undefined ? {} : { reason: r.reason }) };
      if (r.lost === 0) log.warn(fields, 'forced stop: queued exchanges and the manifest written');
      else log.error(fields, 'forced stop: some queued exchanges were not written');
      log.flush();
    });
    const shared: RecordShared = {
      config,
      daemon,
      recorder,
      redactor,
      traceLinks: createTraceLinks(),
      timeouts: proxyTimeoutsOf(rec.timeouts),
      limits: proxyLimitsOf(rec),
      maxBodyBytes: rec.max_body_bytes,
      decide: createRecordFilter({ sample: rec.sample, include: rec.include, exclude: rec.exclude, excludeHealth: rec.exclude_health }),
    };
    // Certificates are checked before any port opens: a bad file is exit 2 with nothing half started.
    const inboundTls = await daemon.serverTls(rec.tls, 'record.tls');
    const upstreamTls = daemon.targetTls(rec.upstream_tls, 'record.upstream_tls');
    // Dependencies first, so the service's outbound calls have somewhere to go once inbound traffic flows.
    started.push(...(await startHttpDeps(shared, rec.http_deps)));
    for (const relay of await startPgDeps(shared, writer, rec.pg_deps, recorderId)) {
      pgRelays.push(relay);
      started.push(relay);
    }
    const grpcSink = createGrpcSink(shared, writer, rec.queue_bytes);
    started.push(...(await startGrpcDeps(shared, grpcSink, sessionKeyer, rec.grpc_deps)));
    if (rec.upstream !== undefined) {
      started.push(
        rec.protocol === 'grpc'
          ? await startGrpcInbound(shared, grpcSink, sessionKeyer, rec.upstream, inboundTls, upstreamTls)
          : await startInbound(shared, rec.upstream, inboundTls, upstreamTls),
      );
    }
    await daemon.serve(ctx.io.signal, () => log.info({ out }, 'recording; stop with Ctrl-C'));
    log.info('stopping: closing listeners and flushing the traffic store');
  } finally {
    // Listeners first, so nothing arrives at a recorder that is draining.
    for (const s of started.reverse()) await s.close();
    // While the recorder drains into the store, a second signal still writes what is queued synchronously.
    await recording?.recorder.close();
    unhookForcedStop?.();
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
    upstreamHttp2: rec.upstream_http2,
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
        upstreamHttp2: dep.target_http2,
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
async function startPgDeps(shared: RecordShared, writer: ExchangeWriter, deps: readonly PgDepConfig[], recorderId: string): Promise<PgRecorder[]> {
  const rec = shared.config.record;
  const out: PgRecorder[] = [];
  for (const dep of deps) {
    const relay = await startPgRecorder({
      service: dep.name,
      listen: parseHostPort(dep.listen, `--pg-dep ${dep.name} listen`),
      listenFlag: `--pg-dep ${dep.name}=LISTEN,HOST:PORT (record.pg_deps)`,
      target: parseHostPort(dep.target as string, `--pg-dep ${dep.name} target`),
      writer,
      log: shared.daemon.log,
      metrics: shared.daemon.metrics,
      queueItems: rec.queue_items,
      queueBytes: rec.queue_bytes,
      recorderId,
      maxMessageBytes: rec.max_message_bytes,
      maxConnections: rec.max_connections,
      loginTimeoutMs: rec.timeouts.login_ms,
    });
    out.push(relay);
  }
  return out;
}
