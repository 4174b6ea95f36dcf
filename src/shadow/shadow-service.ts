/**
 * `doppel shadow` assembled: the capture proxy in front of the primary (the
 * same transparent path as `doppel record`) with the tee as its sink, the
 * primary's dependency proxies feeding the live mocks, the candidate's
 * dependency ports answering from them, the judge and its worker pool, the
 * windowed gates exported continuously, and a graceful stop.
 */
import type { CutoffsConfig } from '../config/schema.js';
import type { ResolvedCompare, ResolvedShadow } from '../config/resolve.js';
import { formatHostPort, parseHostPort } from '../core/address.js';
import { DoppelError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { newRunId } from '../core/ids.js';
import type { Metrics } from '../metrics/metrics.js';
import { checkGatesNeedBaseline, validateGates } from '../gates/gate-evaluator.js';
import type { ProxyLimits, ProxyTimeouts } from '../capture/http-capture-proxy.js';
import { createRecordFilter, type RecordDecision } from '../capture/record-filter.js';
import { createCandidateClient } from './candidate-client.js';
import { createShadowTee, type ShadowTee } from './shadow-tee.js';
import { createLiveMocks, type LiveMocks } from './live-mocks.js';
import type { ShadowRun } from './shadow-run.js';
import { createDropCounter, createShadowJudging, startShadowRun, teeJudgingOf } from './shadow-judging.js';
import { ShadowListeners } from './shadow-listeners.js';
import { startPgMock } from '../mock/pg/server.js';
import type { PgMock } from '../mock/pg/types.js';
import type { ShadowTls } from './shadow-listeners.js';

export interface ShadowServiceOptions {
  shadow: Readonly<ResolvedShadow>;
  compare: Readonly<ResolvedCompare>;
  gates: Readonly<Record<string, string>>;
  cutoffs: Readonly<CutoffsConfig>;
  runId?: string | undefined;
  log: Logger;
  metrics: Metrics;
  /** the capture proxy's timeouts (record.timeouts): the primary path is the record path */
  timeouts: ProxyTimeouts;
  /** the capture proxy's limits (record.max_header_bytes, record.max_connections); Node's defaults when absent */
  limits?: ProxyLimits | undefined;
  /** certificates read at the edge: the listener's, and those of the targets (shadow.*_tls, http_deps[].target_tls) */
  tls?: ShadowTls | undefined;
  now?: () => number;
}

export type { ShadowTls } from './shadow-listeners.js';

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

/**
 * Methods shadowed: safe ones by default. A write reaches the candidate only
 * with live mocks in place (candidate dependency ports), so the candidate
 * cannot change real data; with them, writes are shadowed too.
 */
export function effectiveMethods(cfg: Readonly<ResolvedShadow>): string[] {
  const listed = cfg.methods.map((m) => m.toUpperCase());
  const hasLiveMocks = cfg.candidate_http_deps.length > 0 || cfg.candidate_pg_deps.length > 0;
  const writes = listed.filter((m) => !SAFE_METHODS.has(m));
  if (writes.length > 0 && !hasLiveMocks) {
    throw new DoppelError('DOPPEL_CONFIG_INVALID', `shadow.methods: ${writes.join(', ')} would let the candidate write to real dependencies; shadow writes only with live mocks (--candidate-http-dep / --candidate-pg-dep)`);
  }
  return hasLiveMocks ? [...new Set([...listed, ...WRITE_METHODS])] : listed;
}

export function validateShadowConfig(cfg: Readonly<ResolvedShadow>, gates: Readonly<Record<string, string>>): string[] {
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

/** Every problem of the shadow configuration at once, before anything listens (exit 2). */
export function refuseShadowProblems(problems: readonly string[]): void {
  if (problems.length > 0) throw new DoppelError('DOPPEL_CONFIG_INVALID', `${problems.length} problem${problems.length === 1 ? '' : 's'} in the shadow configuration`, { details: problems });
}

export async function startShadowService(opts: ShadowServiceOptions): Promise<ShadowService> {
  const cfg = opts.shadow;
  refuseShadowProblems(validateShadowConfig(cfg, opts.gates));
  const now = opts.now ?? Date.now;
  const log = opts.log.child({ component: 'shadow' });
  const runId = opts.runId ?? newRunId();
  const timeoutMs = cfg.timeout_ms;
  const drainMs = cfg.drain_timeout_ms;
  const maxBody = cfg.max_body_bytes;
  const methods = effectiveMethods(cfg);
  const methodSet = new Set(methods);

  // `shadowRun` is created below; no copy can be dropped before the proxy starts, after it.
  const drop = createDropCounter(opts.metrics.shadowDropped, (reason) => shadowRun.drop(reason));
  const judging = createShadowJudging({ shadow: cfg, compare: opts.compare, gates: opts.gates, cutoffs: opts.cutoffs, runId, now, metrics: opts.metrics, drop, log });
  const tls = opts.tls ?? {};
  const { pool } = judging;
  const candidate = createCandidateClient({
    url: cfg.candidate as string,
    timeoutMs,
    maxBodyBytes: maxBody,
    connections: cfg.max_in_flight,
    tls: tls.candidate,
    http2: cfg.candidate_http2,
  });
  // The secondary is a second instance of the primary: it trusts what the primary is trusted with.
  const secondary = cfg.secondary === undefined ? undefined : createCandidateClient({ url: cfg.secondary, timeoutMs, maxBodyBytes: maxBody, connections: cfg.max_in_flight, tls: tls.primary, http2: cfg.primary_http2 });
  const hasLiveMocks = cfg.candidate_http_deps.length > 0 || cfg.candidate_pg_deps.length > 0;
  const liveMocks = hasLiveMocks || cfg.http_deps.length > 0
    ? createLiveMocks({ log, metrics: opts.metrics, windowMs: cfg.mock_window_ms, maxCalls: 10_000, maxBodyBytes: maxBody, injectTraceparent: cfg.inject_traceparent, now })
    : undefined;
  const tee = createShadowTee({
    candidate,
    secondary,
    liveMocks: hasLiveMocks ? liveMocks : undefined,
    ...teeJudgingOf(judging, cfg, drop, log),
  });
  const started = startShadowRun(judging, { shadow: cfg, runId, now, tee, log });
  const shadowRun = started.run;

  const filter = createRecordFilter({ sample: cfg.sample, include: cfg.include, exclude: cfg.exclude, excludeHealth: false });
  const decide = (method: string, url: string): RecordDecision => (methodSet.has(method) ? filter(method, url) : 'filtered');
  const listeners = new ShadowListeners({ shadow: cfg, maxBodyBytes: maxBody, timeouts: opts.timeouts, limits: opts.limits, log: opts.log, metrics: opts.metrics, tls });
  let inbound: Awaited<ReturnType<ShadowListeners['startInbound']>>;
  try {
    await listeners.startPrimaryHttpDeps(liveMocks);
    const pgMocks = await startCandidatePgMocks(cfg, listeners, { log, metrics: opts.metrics, now, liveMocks });
    await listeners.startPgRelays(pgMocks);
    await listeners.startCandidateHttpDeps(liveMocks);
    inbound = await listeners.startInbound(tee, decide);
  } catch (err) {
    started.stopExport();
    await listeners.closeAll(0);
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
    await listeners.closeAll(1000);
    await liveMocks?.close();
    await Promise.all([candidate.close(), secondary?.close(), pool.close()]);
    // 3. final gate values for the last scrape, and the report
    await started.finish();
  }

  return {
    address: inbound.address,
    url: inbound.url,
    run: shadowRun,
    tee,
    liveMocks,
    deps: listeners.deps,
    candidateDeps: listeners.candidateDeps,
    methods,
    close() {
      closing ??= close();
      return closing;
    },
  };
}

/** Postgres live mocks: the candidate's port answers from what the primary's relay decodes, fed as it is recorded. */
async function startCandidatePgMocks(
  cfg: Readonly<ResolvedShadow>,
  listeners: ShadowListeners,
  o: { log: Logger; metrics: Metrics; now: () => number; liveMocks: LiveMocks | undefined },
): Promise<Map<string, PgMock>> {
  const pgMocks = new Map<string, PgMock>();
  const mockWindowMs = cfg.mock_window_ms;
  for (const d of cfg.candidate_pg_deps) {
    const mock = await startPgMock({
      service: d.name,
      listen: parseHostPort(d.listen, `--candidate-pg-dep ${d.name} listen`),
      listenFlag: `--candidate-pg-dep ${d.name}=LISTEN (shadow.candidate_pg_deps)`,
      log: o.log,
      metrics: o.metrics,
      live: {
        windowMs: mockWindowMs,
        maxExchanges: PG_LIVE_MAX_EXCHANGES,
        now: o.now,
        onUnusedDropped: () => o.metrics.shadowDropped.inc({ reason: 'mock_window' }),
        onTracedStatement: (st) => o.liveMocks?.notePgStatement(d.name, st),
      },
    });
    pgMocks.set(d.name, mock);
    listeners.addCandidateDep(d.name, mock, formatHostPort({ host: mock.address.address, port: mock.address.port }));
  }
  return pgMocks;
}
