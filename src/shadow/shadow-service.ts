/**
 * `doppel shadow` assembled: the capture proxy in front of the primary (the
 * same transparent path as `doppel record`) with the tee as its sink, the
 * primary's dependency proxies feeding the live mocks, the candidate's
 * dependency ports answering from them, the judge and its worker pool, the
 * windowed gates exported continuously, and a graceful stop.
 */
import { availableParallelism } from 'node:os';
import type { CompareConfig, CutoffsConfig, ShadowConfig } from '../config/schema.js';
import { parseDurationMs, parseSizeBytes } from '../config/duration.js';
import { DEFAULT_DECODE_LIMIT } from '../core/content-coding.js';
import { DoppelError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { newRunId } from '../core/ids.js';
import type { Metrics } from '../metrics/metrics.js';
import { createComparator } from '../compare/comparator.js';
import { createNoiseLearner, type NoiseLearner } from '../compare/noise.js';
import { createGateEvaluator, createWindowedGateEvaluator, checkGatesNeedBaseline, validateGates } from '../gates/gate-evaluator.js';
import { createRunMetrics } from '../gates/run-metrics.js';
import { createCandidateClient } from './candidate-client.js';
import { createJudgePool, type JudgePool } from './judge-pool.js';
import { createShadowJudge } from './shadow-judge.js';
import { createShadowTee, type ShadowTee } from './shadow-tee.js';
import { createLiveMocks, type LiveMocks } from './live-mocks.js';
import { createShadowRun, type ShadowRun } from './shadow-run.js';
import { createShadowReport } from './shadow-report.js';
import { randomBytes } from 'node:crypto';
import { startHttpCaptureProxy, type HttpCaptureProxy, type ProxyTimeouts } from '../capture/http-capture-proxy.js';
import { createRecordFilter, type RecordDecision } from '../capture/record-filter.js';
import { createTraceLinks, traceparentOf } from '../capture/trace-links.js';
import type { ShadowDropReason } from './types.js';
import { formatHostPort, parseHostPort } from '../core/address.js';
import type { ServerTls, TargetTls } from '../core/tls.js';
import { createPgRecorder } from '../capture/pg-recorder.js';
import { createPgMock, type PgMock } from '../mock/pg-mock.js';
import { createPgFeedWriter } from './pg-feed-writer.js';

export interface ShadowServiceOptions {
  shadow: Readonly<ShadowConfig>;
  compare: Readonly<CompareConfig>;
  gates: Readonly<Record<string, string>>;
  cutoffs: Readonly<CutoffsConfig>;
  runId?: string | undefined;
  log: Logger;
  metrics: Metrics;
  /** the capture proxy's timeouts (record.timeouts): the primary path is the record path */
  timeouts: ProxyTimeouts;
  /** certificates read at the edge: the listener's, and those of the targets (shadow.*_tls, http_deps[].target_tls) */
  tls?: ShadowTls | undefined;
  now?: () => number;
}

export interface ShadowTls {
  listener?: ServerTls | undefined;
  primary?: TargetTls | undefined;
  candidate?: TargetTls | undefined;
  /** by dependency name */
  deps?: ReadonlyMap<string, TargetTls> | undefined;
}

export interface ShadowService {
  readonly address: string;
  readonly url: string;
  readonly run: ShadowRun;
  readonly tee: ShadowTee;
  readonly liveMocks: LiveMocks | undefined;
  /** primary dependency proxies by name */
  readonly deps: ReadonlyMap<string, string>;
  /** candidate dependency ports by name */
  readonly candidateDeps: ReadonlyMap<string, string>;
  /** the shadowed methods in effect */
  readonly methods: readonly string[];
  /** stop accepting, finish primary requests, drain shadow work to the deadline, export, report */
  close(): Promise<void>;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);
const WRITE_METHODS = ['POST', 'PUT', 'PATCH', 'DELETE'];
/** The Postgres live mock's memory bound besides shadow.mock_window (the HTTP live mocks keep as many calls). */
const PG_LIVE_MAX_EXCHANGES = 10_000;

function ms(value: string | number, key: string): number {
  const v = parseDurationMs(value);
  if (v === undefined) throw new DoppelError('DOPPEL_CONFIG_INVALID', `shadow.${key}: expected a duration like "5s", got ${JSON.stringify(value)}`);
  return v;
}

function bytes(value: string | number, key: string): number {
  const v = parseSizeBytes(value);
  if (v === undefined) throw new DoppelError('DOPPEL_CONFIG_INVALID', `shadow.${key}: expected a size like "1mb", got ${JSON.stringify(value)}`);
  return v;
}

/**
 * Methods shadowed: safe ones by default. A write reaches the candidate only
 * with live mocks in place (candidate dependency ports), so the candidate
 * cannot change real data; with them, writes are shadowed too.
 */
export function effectiveMethods(cfg: Readonly<ShadowConfig>): string[] {
  const listed = cfg.methods.map((m) => m.toUpperCase());
  const hasLiveMocks = cfg.candidate_http_deps.length > 0 || cfg.candidate_pg_deps.length > 0;
  const writes = listed.filter((m) => !SAFE_METHODS.has(m));
  if (writes.length > 0 && !hasLiveMocks) {
    throw new DoppelError('DOPPEL_CONFIG_INVALID', `shadow.methods: ${writes.join(', ')} would let the candidate write to real dependencies; shadow writes only with live mocks (--candidate-http-dep / --candidate-pg-dep)`);
  }
  return hasLiveMocks ? [...new Set([...listed, ...WRITE_METHODS])] : listed;
}

export function validateShadowConfig(cfg: Readonly<ShadowConfig>, gates: Readonly<Record<string, string>>): string[] {
  const problems: string[] = [];
  if (cfg.listen === undefined) problems.push('shadow.listen: required (--listen ADDR)');
  if (cfg.primary === undefined) problems.push('shadow.primary: required (--primary URL)');
  if (cfg.candidate === undefined) problems.push('shadow.candidate: required (--candidate URL)');
  problems.push(...validateGates(gates), ...checkGatesNeedBaseline(gates, true));
  const pgNames = new Set(cfg.pg_deps.map((d) => d.name));
  for (const d of cfg.candidate_pg_deps) {
    if (!pgNames.has(d.name)) problems.push(`shadow.candidate_pg_deps: ${d.name} has no primary Postgres dependency of that name to mock from (--pg-dep ${d.name}=LISTEN,HOST:PORT)`);
  }
  for (const d of cfg.pg_deps) if (d.target === undefined) problems.push(`shadow.pg_deps: ${d.name} needs its real server (NAME=LISTEN,HOST:PORT)`);
  const names = new Set(cfg.http_deps.map((d) => d.name));
  for (const d of cfg.candidate_http_deps) {
    if (!names.has(d.name)) problems.push(`shadow.candidate_http_deps: ${d.name} has no primary dependency of that name to mock from (--http-dep ${d.name}=LISTEN,TARGET_URL)`);
  }
  for (const d of cfg.http_deps) if (d.target === undefined) problems.push(`shadow.http_deps: ${d.name} needs its real target (NAME=LISTEN,TARGET_URL)`);
  try {
    effectiveMethods(cfg);
  } catch (err) {
    problems.push((err as Error).message);
  }
  return problems;
}

export async function startShadowService(opts: ShadowServiceOptions): Promise<ShadowService> {
  const cfg = opts.shadow;
  const problems = validateShadowConfig(cfg, opts.gates);
  if (problems.length > 0) throw new DoppelError('DOPPEL_CONFIG_INVALID', `${problems.length} problem${problems.length === 1 ? '' : 's'} in the shadow configuration`, { details: problems });
  const now = opts.now ?? Date.now;
  const log = opts.log.child({ component: 'shadow' });
  const runId = opts.runId ?? newRunId();
  const timeoutMs = ms(cfg.timeout, 'timeout');
  const windowMs = ms(cfg.window, 'window');
  const drainMs = ms(cfg.drain_timeout, 'drain_timeout');
  const maxBody = bytes(cfg.max_body_bytes, 'max_body_bytes');
  const methods = effectiveMethods(cfg);
  const methodSet = new Set(methods);

  const comparator = createComparator(opts.compare);
  const noise: NoiseLearner | undefined =
    cfg.secondary === undefined ? undefined : createNoiseLearner({ samplesPerEndpoint: opts.compare.learn_noise > 0 ? opts.compare.learn_noise : 50, confidence: opts.compare.noise_confidence });
  const windowed = createWindowedGateEvaluator({ gates: opts.gates, cutoffs: opts.cutoffs, hasLatencyBaseline: true, windowMs, now });
  const total = createGateEvaluator({ gates: opts.gates, cutoffs: opts.cutoffs, hasLatencyBaseline: true });
  const runMetrics = createRunMetrics(opts.metrics, runId, 'shadow');
  const pool: JudgePool = createJudgePool({ compare: opts.compare, workers: Math.min(cfg.judge_workers, Math.max(1, availableParallelism() - 1)), maxQueued: cfg.judge_queue_items, log });
  const dropped = opts.metrics.shadowDropped;
  // `shadowRun` is created below; no copy can be dropped before the proxy starts, after it.
  // One labelled child per reason, looked up once: a drop is counted on most requests when a candidate lags.
  const droppedBy = new Map<ShadowDropReason, { inc(): void }>();
  const drop = (reason: ShadowDropReason) => {
    let child = droppedBy.get(reason);
    if (child === undefined) {
      child = dropped.labels({ reason });
      droppedBy.set(reason, child);
    }
    child.inc();
    shadowRun.drop(reason);
  };
  // Opened at start: diffs.ndjson and results.ndjson stream from the first copy on, and a bad directory fails the start.
  const report = cfg.report === undefined ? undefined : createShadowReport(cfg.report, { maxDecodedBytes: parseSizeBytes(opts.compare.max_body_bytes) ?? DEFAULT_DECODE_LIMIT });
  const judge = createShadowJudge({
    comparator,
    pool,
    inlineMaxBytes: bytes(cfg.judge_inline_bytes, 'judge_inline_bytes'),
    noise,
    windowed,
    total,
    metrics: runMetrics,
    drop,
    maxSamples: cfg.diff_samples,
    report,
    log,
  });
  const tls = opts.tls ?? {};
  const candidate = createCandidateClient({ url: cfg.candidate as string, timeoutMs, maxBodyBytes: maxBody, connections: cfg.max_in_flight, tls: tls.candidate });
  // The secondary is a second instance of the primary: it trusts what the primary is trusted with.
  const secondary = cfg.secondary === undefined ? undefined : createCandidateClient({ url: cfg.secondary, timeoutMs, maxBodyBytes: maxBody, connections: cfg.max_in_flight, tls: tls.primary });
  const hasLiveMocks = cfg.candidate_http_deps.length > 0 || cfg.candidate_pg_deps.length > 0;
  const liveMocks = hasLiveMocks || cfg.http_deps.length > 0
    ? createLiveMocks({ log, metrics: opts.metrics, windowMs: ms(cfg.mock_window, 'mock_window'), maxCalls: 10_000, maxBodyBytes: maxBody, injectTraceparent: cfg.inject_traceparent, now })
    : undefined;
  const tee = createShadowTee({
    candidate,
    secondary,
    wantsSecondary: noise === undefined ? undefined : (endpoint) => noise.wantsSample(endpoint),
    judge,
    liveMocks: hasLiveMocks ? liveMocks : undefined,
    queueItems: cfg.queue_items,
    maxQueueWaitMs: ms(cfg.queue_wait, 'queue_wait'),
    maxInFlight: cfg.max_in_flight,
    drop,
    log,
  });
  const shadowRun: ShadowRun = createShadowRun({
    id: runId,
    startedAt: now(),
    primary: cfg.primary as string,
    candidate: cfg.candidate as string,
    secondary: cfg.secondary,
    windowMs,
    windowed,
    total,
    judge,
    noise,
    tee: () => tee.stats(),
    report,
  });

  const exportGates = () => runMetrics.exportGates(windowed.results());
  exportGates();
  const exporter = setInterval(exportGates, 1000);
  exporter.unref();

  const started: Array<{ close(graceMs?: number): Promise<void> }> = [];
  const deps = new Map<string, string>();
  const candidateDeps = new Map<string, string>();
  const filter = createRecordFilter({ sample: cfg.sample, include: cfg.include, exclude: cfg.exclude, excludeHealth: false });
  const decide = (method: string, url: string): RecordDecision => (methodSet.has(method) ? filter(method, url) : 'filtered');
  // The inbound proxy registers each trace; dependency proxies link the primary's calls to it.
  const traceLinks = createTraceLinks();
  const common = { maxBodyBytes: maxBody, timeouts: opts.timeouts, traceLinks, log: opts.log, metrics: opts.metrics };
  let inbound: HttpCaptureProxy;
  try {
    for (const d of cfg.http_deps) {
      const lm = liveMocks as LiveMocks;
      const p = await startHttpCaptureProxy({
        ...common,
        listen: d.listen,
        listenFlag: `--http-dep ${d.name}=LISTEN,TARGET_URL (shadow.http_deps)`,
        target: d.target as string,
        targetTls: tls.deps?.get(d.name),
        service: d.name,
        direction: 'outbound',
        sink: { isPaused: false, offer: (ex) => lm.primarySink.offer(ex), skip: () => undefined },
        rewriteHost: true,
      });
      started.push(p);
      deps.set(d.name, p.address);
    }
    // Postgres live mocks: the candidate's port answers from what the primary's relay decodes, fed as it is recorded.
    const pgMocks = new Map<string, PgMock>();
    const mockWindowMs = ms(cfg.mock_window, 'mock_window');
    for (const d of cfg.candidate_pg_deps) {
      const mock = await createPgMock({
        service: d.name,
        listen: parseHostPort(d.listen, `--candidate-pg-dep ${d.name} listen`),
        listenFlag: `--candidate-pg-dep ${d.name}=LISTEN (shadow.candidate_pg_deps)`,
        log,
        metrics: opts.metrics,
        live: {
          windowMs: mockWindowMs,
          maxExchanges: PG_LIVE_MAX_EXCHANGES,
          now,
          onUnusedDropped: () => dropped.inc({ reason: 'mock_window' }),
          onTracedStatement: (st) => liveMocks?.notePgStatement(d.name, st),
        },
      });
      started.push(mock);
      pgMocks.set(d.name, mock);
      candidateDeps.set(d.name, formatHostPort({ host: mock.address.address, port: mock.address.port }));
    }
    for (const d of cfg.pg_deps) {
      const relay = await createPgRecorder({
        service: d.name,
        listen: parseHostPort(d.listen, `--pg-dep ${d.name} listen`),
        listenFlag: `--pg-dep ${d.name}=LISTEN,HOST:PORT (shadow.pg_deps)`,
        target: parseHostPort(d.target as string, `--pg-dep ${d.name} target`),
        writer: createPgFeedWriter(pgMocks.get(d.name)),
        log,
        metrics: opts.metrics,
      });
      started.push(relay);
      deps.set(d.name, formatHostPort({ host: relay.address.address, port: relay.address.port }));
    }
    for (const d of cfg.candidate_http_deps) {
      const s = await (liveMocks as LiveMocks).listen(d.name, d.listen);
      started.push(s);
      candidateDeps.set(d.name, s.address);
    }
    inbound = await startHttpCaptureProxy({
      ...common,
      listen: cfg.listen as string,
      listenFlag: '--listen ADDR (shadow.listen)',
      target: cfg.primary as string,
      tls: tls.listener,
      targetTls: tls.primary,
      service: 'primary',
      direction: 'inbound',
      sink: tee,
      decide,
      rewriteHost: false,
      // W3C Trace Context: a fresh trace id and parent id, sampled flag set (https://www.w3.org/TR/trace-context/#traceparent-header).
      addRequestHeaders: cfg.inject_traceparent
        ? (raw) => (traceparentOf(raw) === undefined ? ['traceparent', `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`] : undefined)
        : undefined,
    });
  } catch (err) {
    clearInterval(exporter);
    await Promise.all(started.map((s) => s.close(0).catch(() => undefined)));
    await Promise.all([candidate.close(), secondary?.close(), pool.close()]);
    throw err;
  }
  log.info({ address: inbound.address, primary: cfg.primary, candidate: cfg.candidate, runId, methods, sample: cfg.sample }, 'shadow listening');

  let closing: Promise<void> | undefined;
  async function close(): Promise<void> {
    // 1. stop accepting and let the primary's in-flight requests finish (its dependencies stay up meanwhile)
    await inbound.close(drainMs);
    // 2. drain queued and in-flight copies to the deadline; the candidate's live mocks stay up meanwhile
    await tee.drain(drainMs);
    await Promise.all(started.map((s) => s.close(1000).catch(() => undefined)));
    await liveMocks?.close();
    await Promise.all([candidate.close(), secondary?.close(), pool.close()]);
    // 3. final gate values for the last scrape, and the report
    clearInterval(exporter);
    exportGates();
    shadowRun.finish();
    if (cfg.report !== undefined) {
      try {
        await shadowRun.report(true);
      } catch (err) {
        log.error({ err }, 'report not written');
      }
    }
    log.info({ runId, judged: judge.judged, dropped: shadowRun.drops() }, 'shadow stopped');
  }

  return {
    address: inbound.address,
    url: inbound.url,
    run: shadowRun,
    tee,
    liveMocks,
    deps,
    candidateDeps,
    methods,
    close() {
      closing ??= close();
      return closing;
    },
  };
}
