/**
 * The replay engine: streams recorded inbound HTTP exchanges to a target,
 * session by session, and judges each response as it arrives. `doppel
 * replay` is a thin CLI over `runReplay`; `doppel run` calls it in-process
 * with its own config, in-process mock counts and a baseline phase.
 */
import { setMaxListeners } from 'node:events';
import { stat } from 'node:fs/promises';
import type { Clock } from '../core/clock.js';
import { DoppelError, ExitCode, usageError } from '../core/errors.js';
import { readableBody } from '../core/content-coding.js';
import { decodeBody, isHttpExchange, type HttpExchange } from '../core/exchange.js';
import { newRunId } from '../core/ids.js';
import type { Logger } from '../core/logger.js';
import { loadTargetTls, type TargetTls } from '../core/tls.js';
import type { CompareConfig, CutoffsConfig, ReplayConfig } from '../config/schema.js';
import { parseDurationMs, parseSizeBytes } from '../config/duration.js';
import type { ResponseSample } from '../compare/types.js';
import { LATENCY_GATES } from '../gates/expression.js';
import type { GateResult, JudgedRequest, MockCounts } from '../gates/types.js';
import type { Metrics } from '../metrics/metrics.js';
import { endpointLabel } from '../metrics/route-template.js';
import { listStoreSegments, readStoreManifest } from '../store/file-store.js';
import { isRedisStoreUrl, openStoreReader } from '../store/open-store.js';
import type { ExchangeReader } from '../store/types.js';
import { createHttpSender, type HttpSender, type SendOutcome } from './http-sender.js';
import type { BaselineLookup, GateEvaluatorPort, JudgePorts, NoiseLearnerPort, ReportSinkPort } from './judge-ports.js';
import { LiveRun, type DiffSample, type RunCounts } from './live-run.js';
import { createMockAdminClient } from './mock-admin-client.js';
import { buildRequest, type OutgoingRequest, type RequestBuildOptions } from './request-builder.js';
import { createRequestFilter } from './request-filter.js';
import { applyCaptures, compileCaptures, parseJsonLoose, parseResponseJson, substituteJson, substituteUrl, type SessionVars } from './runtime-vars.js';
import { createSessionKeyer, parseSessionKey } from '../core/sessions.js';
import { runSessionScheduler, type ScheduledRequest, type SessionContext, type Timing } from './session-scheduler.js';

/** Mock-match figures for mock_match_rate: started before the run, read after. */
export interface MockCountsSource {
  start(): Promise<void>;
  delta(): Promise<MockCounts>;
}

export interface ReplayOptions {
  /** defaults to replay.run_id, else a fresh id */
  runId?: string;
  /**
   * `sessions.key` of the configuration. A header, cookie or JWT claim key groups
   * exchanges recorded one session per exchange (recorded without that key) by
   * the recorded request, so the sessions the configuration names replay in order.
   */
  sessionKey?: string;
  replay: Readonly<ReplayConfig>;
  /** replay.target_tls read by the caller (paths resolved against its working directory); read here when absent */
  targetTls?: TargetTls | undefined;
  compare: Readonly<CompareConfig>;
  gates: Readonly<Record<string, string>>;
  cutoffs: Readonly<CutoffsConfig>;
  /** environment for {{env.NAME}} */
  vars: Readonly<Record<string, string | undefined>>;
  /** stops sending; the report is still written and the run counts as aborted */
  signal?: AbortSignal;
  /** reads traffic from here instead of replay.traffic directories */
  reader?: ExchangeReader;
  /** in-process mock counts; else replay.mock_admin URLs are asked */
  mockCounts?: MockCountsSource;
  /** bearer token for replay.mock_admin URLs */
  adminToken?: string;
  /** prints what would be sent and sends nothing */
  dryRun?: (line: string) => void;
}

export interface ReplayDeps {
  log: Logger;
  metrics: Metrics;
  clock: Clock;
  judge: JudgePorts;
  /** called once the run exists (admin API, progress view) */
  observe?: (run: LiveRun) => void;
}

export interface ReplayResult {
  runId: string;
  verdict: 'passed' | 'failed' | 'aborted';
  exitCode: ExitCode;
  abortReason: string | undefined;
  gates: GateResult[];
  counts: RunCounts;
  reportDir: string | undefined;
  /** requests per second actually sent */
  achievedRate: number;
  /** --rate when given */
  targetRate: number | undefined;
  /** share of the target rate not reached (0 when reached) */
  rateShortfall: number | undefined;
  schedule: { lagP50Ms: number; lagP99Ms: number; lagMaxMs: number; maxBuffered: number };
  mockCounts: MockCounts | undefined;
}

const DEFAULT_WINDOW = 10_000;
const SESSION_MEMORY = 10_000;

function asList(v: string | readonly string[] | undefined): string[] {
  if (v === undefined) return [];
  return typeof v === 'string' ? [v] : [...v];
}

async function checkTrafficDirs(dirs: readonly string[]): Promise<void> {
  for (const dir of dirs) {
    // A Redis store is checked when it is read (a missing one is DOPPEL_STORE_NOT_FOUND there).
    if (isRedisStoreUrl(dir)) continue;
    let isDir: boolean;
    try {
      isDir = (await stat(dir)).isDirectory();
    } catch {
      throw new DoppelError('DOPPEL_STORE_NOT_FOUND', `${dir}: traffic directory does not exist`);
    }
    if (!isDir) throw new DoppelError('DOPPEL_STORE_NOT_FOUND', `${dir}: not a traffic directory`);
    if ((await listStoreSegments(dir)).length === 0) {
      throw new DoppelError('DOPPEL_INPUT_INVALID', `${dir}: traffic directory holds no exchanges (no exchanges-*.ndjson segment)`);
    }
  }
}

/** The recorded response with captured recorded values replaced by the candidate's. */
function substituteRecorded(sample: ResponseSample, vars: SessionVars, maxDecodedBytes: number): ResponseSample {
  let body = sample.body;
  let isDecoded = sample.isDecoded === true;
  const readable = isDecoded ? body : readableBody(body, sample.headers, maxDecodedBytes).body;
  const doc = parseJsonLoose(readable);
  if (doc !== undefined) {
    const r = substituteJson(doc, vars);
    if (r.changed) {
      // compared as decoded from here on: re-encoding only to have the comparator decode again would be waste
      body = Buffer.from(JSON.stringify(r.value));
      isDecoded = true;
    }
  }
  const headers = sample.headers.map(([k, v]): [string, string] => {
    const name = k.toLowerCase();
    return name === 'location' || name === 'content-location' ? [k, substituteUrl(v, vars)] : [k, v];
  });
  return { ...sample, headers, body, ...(isDecoded ? { isDecoded } : {}) };
}

/** Inbound exchanges the manifests announce (an upper bound for ETA: filters may skip some). */
async function countInbound(dirs: readonly string[]): Promise<number | undefined> {
  let n = 0;
  for (const dir of dirs) {
    if (isRedisStoreUrl(dir)) return undefined;
    try {
      const m = await readStoreManifest(dir);
      if (m === undefined) return undefined;
      n += m.counts.inbound;
    } catch {
      return undefined;
    }
  }
  return n;
}

function originOf(target: string): string {
  return new URL(target).origin;
}

function pathOf(url: string): string {
  if (/^https?:\/\//i.test(url)) {
    try {
      const u = new URL(url);
      return u.pathname + u.search;
    } catch {
      return url;
    }
  }
  return url;
}

export async function runReplay(options: ReplayOptions, deps: ReplayDeps): Promise<ReplayResult> {
  const cfg = options.replay;
  const { log, metrics, clock, judge } = deps;
  const runId = options.runId ?? cfg.run_id ?? newRunId(clock.now());

  // --- validation: every problem found here is exit 2, before anything is sent
  const dirs = asList(cfg.traffic);
  if (options.reader === undefined && dirs.length === 0) throw usageError('replay.traffic: no traffic directory given (--traffic DIR[,DIR...])');
  if (cfg.target === undefined && options.dryRun === undefined) throw usageError('replay.target: no target given (--target URL)');
  const target = cfg.target ?? 'http://127.0.0.1';
  const hasBaselineRun = cfg.baseline !== undefined;
  for (const g of LATENCY_GATES) {
    if (options.gates[g] !== undefined && !hasBaselineRun) {
      throw new DoppelError(
        'DOPPEL_CONFIG_INVALID',
        `quality_gates.${g}: a latency gate needs a baseline run (--baseline DIR): recorded production durations are not comparable with this machine's`,
      );
    }
  }
  const filter = createRequestFilter(cfg.include ?? [], cfg.exclude ?? []);
  const captures = compileCaptures(cfg.captures);
  const maxDelayMs = parseDurationMs(cfg.max_delay) ?? 5000;
  const timeoutMs = parseDurationMs(cfg.timeout) ?? 30_000;
  const durationMs = cfg.duration === undefined ? undefined : parseDurationMs(cfg.duration);
  const maxBodyBytes = parseSizeBytes(options.compare.max_body_bytes) ?? 1024 * 1024;
  if (options.reader === undefined) await checkTrafficDirs(dirs);
  const reader = options.reader ?? openStoreReader(dirs);

  // --- the stream: inbound HTTP only, filtered, limited
  let corrupt = 0;
  let skippedOther = 0;
  let filtered = 0;
  const limit = cfg.limit;
  async function* replayable(): AsyncGenerator<HttpExchange> {
    let accepted = 0;
    const stream = reader.read({
      onCorrupt: (r) => {
        corrupt++;
        metrics.storeCorruptLines.inc();
        log.warn({ source: r.source, line: r.line, reason: r.reason }, 'skipped corrupt traffic line');
      },
    });
    for await (const ex of stream) {
      if (!isHttpExchange(ex) || ex.direction !== 'inbound') {
        skippedOther++;
        continue;
      }
      if (!filter.accepts(ex.http.request.method, pathOf(ex.http.request.url))) {
        filtered++;
        continue;
      }
      yield ex;
      accepted++;
      if (limit !== undefined && accepted >= limit) return;
    }
  }
  // Peek the first exchange: no replayable traffic is an input error, found before the run starts.
  const it = replayable()[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done === true) {
    const where = dirs.length > 0 ? dirs.join(', ') : 'the traffic source';
    const why = filtered > 0 ? ` (${filtered} filtered out by include/exclude)` : '';
    throw new DoppelError('DOPPEL_INPUT_INVALID', `${where}: no inbound HTTP exchanges to replay${why}`);
  }
  // The peeked exchange first, then the stream itself: no generator layer in between.
  let peeked: IteratorResult<HttpExchange> | undefined = first;
  const source: AsyncIterable<HttpExchange> = {
    [Symbol.asyncIterator]: () => ({
      next: () => {
        if (peeked === undefined) return it.next();
        const r = peeked;
        peeked = undefined;
        return Promise.resolve(r);
      },
      return: (value?: unknown) => it.return?.(value) ?? Promise.resolve({ done: true as const, value: undefined }),
    }),
  };

  const buildOpts: RequestBuildOptions = {
    targetOrigin: originOf(target),
    headers: Object.entries(cfg.headers ?? {}),
    env: { now: () => clock.now(), vars: options.vars },
  };

  if (options.dryRun !== undefined) return dryRun(source, buildOpts, options.dryRun, runId, target);

  // --- judge
  const noise: NoiseLearnerPort | undefined = options.compare.learn_noise > 0 ? judge.createNoiseLearner(options.compare) : undefined;
  const comparator = judge.createComparator(options.compare);
  const runMetrics = judge.createRunMetrics(metrics, runId);
  const evaluator: GateEvaluatorPort = judge.createGateEvaluator({ gates: options.gates, cutoffs: options.cutoffs, hasLatencyBaseline: hasBaselineRun });
  const baseline: BaselineLookup | undefined = cfg.baseline === undefined ? undefined : await judge.readBaselineReport(cfg.baseline);
  const sink: ReportSinkPort | undefined = cfg.report === undefined ? undefined : await judge.createReportSink(cfg.report, runId, { evaluator, noise, maxDecodedBytes: maxBodyBytes });
  const mockSource =
    options.mockCounts ?? (cfg.mock_admin !== undefined && cfg.mock_admin.length > 0 ? createMockAdminClient(cfg.mock_admin, options.adminToken) : undefined);

  const live = new LiveRun(runId, target, new Date(clock.now()).toISOString(), () => clock.monotonic());
  const inbound = options.reader === undefined ? await countInbound(dirs) : undefined;
  live.expectedTotal = limit === undefined ? inbound : inbound === undefined ? limit : Math.min(limit, inbound);
  live.reportDir = cfg.report;
  deps.observe?.(live);
  const runLog = log.child({ runId });

  // --- stop handling: one controller for signal, duration, cutoffs
  const stop = new AbortController();
  // Every in-flight request and every pending sleep listens on it.
  setMaxListeners(0, stop.signal);
  let abortReason: string | undefined;
  const abort = (reason: string) => {
    if (stop.signal.aborted) return;
    abortReason ??= reason;
    runLog.warn({ reason }, 'run aborted');
    stop.abort(reason);
  };
  const onSignal = () => abort(`interrupted (${String(options.signal?.reason ?? 'signal')})`);
  if (options.signal?.aborted === true) onSignal();
  options.signal?.addEventListener('abort', onSignal, { once: true });
  let durationTimer: NodeJS.Timeout | undefined;
  if (durationMs !== undefined) {
    durationTimer = setTimeout(() => {
      runLog.info({ durationMs }, 'duration reached, stopping');
      stop.abort('duration');
    }, durationMs);
  }

  const senders: HttpSender[] = [];
  const timing: Timing =
    cfg.rate !== undefined
      ? { mode: 'rate', rps: cfg.rate }
      : { mode: 'recorded', timeScale: cfg.time_scale, maxDelayMs };
  const workers = timing.mode === 'rate' ? cfg.max_in_flight : cfg.concurrency;
  const tls = options.targetTls ?? loadTargetTls(cfg.target_tls, 'replay.target_tls');
  const sender = createHttpSender({ target, connections: workers, insecure: cfg.insecure, tls, timeoutMs, maxBodyBytes, now: () => clock.monotonic(), signal: stop.signal });
  senders.push(sender);
  let secondary: HttpSender | undefined;
  if (cfg.secondary !== undefined) {
    secondary = createHttpSender({ target: cfg.secondary, connections: Math.min(workers, 16), insecure: cfg.insecure, tls, timeoutMs, maxBodyBytes, now: () => clock.monotonic(), signal: stop.signal });
    senders.push(secondary);
  }

  // --- figures for cutoffs on reachability: a target that answers nothing aborts the run
  let answered = 0;
  let consecutiveErrors = 0;
  const unreachableAfter = Math.max(3, Math.min(options.cutoffs.min_requests, 20));
  let lastError: string | undefined;
  let warmupLeft = cfg.warmup;
  let gatesDirty = false;

  const exportGates = () => {
    if (!gatesDirty) return;
    gatesDirty = false;
    live.gates = evaluator.results();
    judge.exportGates(metrics, runId, live.gates);
  };

  const checkCutoff = () => {
    const reason = evaluator.cutoff();
    if (reason !== undefined) abort(`cutoff: ${reason}`);
  };

  const recordedSample = (ex: HttpExchange): ResponseSample | undefined => {
    const r = ex.http.response;
    if (r === null) return undefined;
    return { status: r.status, headers: r.headers, body: decodeBody(r.body, r.bodyEncoding), durationMs: ex.durationMs };
  };

  // Samples started per endpoint: sessions run in parallel, so the learner's own count lags behind.
  const noiseStarted = new Map<string, number>();
  const learnNoise = async (learner: NoiseLearnerPort, ex: HttpExchange, out: OutgoingRequest, endpoint: string, first: SendOutcome & { ok: true }) => {
    const started = noiseStarted.get(endpoint) ?? 0;
    if (started >= options.compare.learn_noise || !learner.wantsSample(endpoint)) return;
    noiseStarted.set(endpoint, started + 1);
    // With a secondary (a second baseline instance) the pair is recorded vs secondary, as Diffy pairs
    // primary and secondary; without, the target answers the same request a second time.
    const again = await (secondary ?? sender).send(out);
    if (!again.ok) {
      noiseStarted.set(endpoint, (noiseStarted.get(endpoint) ?? 1) - 1);
      return;
    }
    live.counts.noiseSamples++;
    const base = secondary === undefined ? first.sample : recordedSample(ex);
    if (base !== undefined) learner.observe(endpoint, comparator.compare(base, again.sample, endpoint));
  };

  const play = async (req: ScheduledRequest, session: SessionContext): Promise<void> => {
    const ex = req.exchange;
    const method = ex.http.request.method.toUpperCase();
    const url = pathOf(ex.http.request.url);
    const endpoint = endpointLabel(method, url);
    const isWarmup = warmupLeft > 0;
    if (isWarmup) warmupLeft--;
    const out = buildRequest(ex, session.vars, buildOpts);
    const res = await sender.send(out);
    const ep = live.endpoint(endpoint);
    if (!res.ok) {
      if (res.isCancelled) {
        live.counts.cancelled++;
        return;
      }
      live.counts.sent++;
      ep.sent++;
      live.counts.errors++;
      ep.errors++;
      consecutiveErrors++;
      lastError = `${res.error.code}: ${res.error.message}`;
      runMetrics.recordReplayResult(endpoint, 'error');
      runLog.debug({ exchangeId: ex.id, endpoint, err: res.error }, 'request failed');
      if (!isWarmup) {
        const judged: JudgedRequest = {
          exchangeId: ex.id,
          endpoint,
          isAnswered: false,
          candidateStatus: undefined,
          baselineStatus: ex.http.response?.status ?? 0,
          outcome: undefined,
          candidateMs: undefined,
          baselineMs: baseline?.get(ex.id)?.durationMs,
        };
        evaluator.record(judged);
        sink?.record({ judged, method, url, error: lastError });
        gatesDirty = true;
        checkCutoff();
      }
      if (answered === 0 && consecutiveErrors >= unreachableAfter) {
        abort(`target unreachable: ${consecutiveErrors} requests to ${target} failed, none answered (${lastError})`);
      } else if (consecutiveErrors >= unreachableAfter * 5) {
        abort(`target unreachable: ${consecutiveErrors} consecutive requests to ${target} failed (${lastError})`);
      }
      return;
    }
    live.counts.sent++;
    ep.sent++;
    answered++;
    consecutiveErrors = 0;
    const cand = res.sample;

    if (captures.length > 0) {
      const rec = ex.http.response;
      applyCaptures(
        captures,
        method,
        url,
        rec === null ? undefined : { headers: rec.headers, json: parseResponseJson(decodeBody(rec.body, rec.bodyEncoding), rec.headers, maxBodyBytes) },
        { headers: cand.headers, json: parseResponseJson(cand.body, cand.headers, maxBodyBytes) },
        session.vars,
      );
    }
    if (noise !== undefined) await learnNoise(noise, ex, out, endpoint, res);

    if (isWarmup) {
      live.counts.warmup++;
      return;
    }
    const paired = baseline?.get(ex.id);
    runMetrics.recordDurations(endpoint, cand.durationMs, paired?.durationMs);
    const recorded = recordedSample(ex);
    if (recorded === undefined) {
      live.counts.unjudged++;
      return;
    }
    // The baseline's own ids, as the candidate assigned them: a create-then-read flow compares equal.
    const base = session.vars.substitutions.size > 0 ? substituteRecorded(recorded, session.vars, maxBodyBytes) : recorded;
    let outcome = comparator.compare(base, cand, endpoint);
    let result: 'match' | 'mismatch' | 'noise' = outcome.isMatch ? 'match' : 'mismatch';
    if (noise !== undefined) ({ result, outcome } = noise.judge(endpoint, outcome));
    const judged: JudgedRequest = {
      exchangeId: ex.id,
      endpoint,
      isAnswered: true,
      candidateStatus: cand.status,
      baselineStatus: base.status,
      outcome,
      candidateMs: cand.durationMs,
      baselineMs: paired?.durationMs,
      ...(baseline === undefined ? {} : { isKnownMismatch: paired?.isMismatch === true }),
      ...(result === 'noise' ? { isNoise: true } : {}),
    };
    evaluator.record(judged);
    sink?.record({ judged, method, url, ...(outcome.isMatch ? {} : { bodies: { baseline: base, candidate: cand } }) });
    gatesDirty = true;
    runMetrics.recordComparison(endpoint, result, outcome.fields, outcome.flags);
    if (outcome.isMatch) {
      live.counts.passed++;
      ep.passed++;
      runMetrics.recordReplayResult(endpoint, 'pass');
    } else {
      live.counts.failed++;
      ep.failed++;
      runMetrics.recordReplayResult(endpoint, 'fail');
      if (baseline !== undefined && paired?.isMismatch !== true) live.counts.newMismatches++;
      const d: DiffSample = {
        exchangeId: ex.id,
        endpoint,
        method,
        url,
        expectedStatus: base.status,
        actualStatus: cand.status,
        diffs: outcome.diffs,
        flags: outcome.flags,
        at: new Date(clock.now()).toISOString(),
      };
      live.addDiff(d);
    }
    checkCutoff();
  };

  let mockCounts: MockCounts | undefined;
  const gateTimer = setInterval(exportGates, 1000);
  gateTimer.unref();
  let stats;
  try {
    if (mockSource !== undefined) await mockSource.start();
    runLog.info({ target, timing, workers }, 'replay started');
    const sessionOf = replaySessionKeyer(options.sessionKey);
    stats = await runSessionScheduler({
      source,
      ...(sessionOf === undefined ? {} : { sessionOf }),
      workers,
      timing,
      window: cfg.window ?? DEFAULT_WINDOW,
      sessionMemory: SESSION_MEMORY,
      clock,
      signal: stop.signal,
      play: (req, session) => play(req, session),
    });
    if (answered === 0 && live.counts.errors > 0) {
      abort(`target unreachable: ${live.counts.errors} requests to ${target} failed, none answered (${lastError ?? 'error'})`);
    }
    if (mockSource !== undefined) {
      try {
        mockCounts = await mockSource.delta();
        evaluator.setMockCounts(mockCounts);
      } catch (err) {
        runLog.warn({ err }, 'could not read mock counts at the end of the run');
      }
    }
  } finally {
    clearInterval(gateTimer);
    if (durationTimer !== undefined) clearTimeout(durationTimer);
    options.signal?.removeEventListener('abort', onSignal);
    await Promise.all(senders.map((s) => s.close()));
  }

  gatesDirty = true;
  exportGates();
  const gates = live.gates;
  const verdict: ReplayResult['verdict'] = abortReason !== undefined ? 'aborted' : gates.some((g) => !g.isPassing) ? 'failed' : 'passed';
  live.status = verdict;
  live.abortReason = abortReason;
  live.finishedAt = new Date(clock.now()).toISOString();
  const elapsedS = stats.elapsedMs / 1000;
  const achievedRate = elapsedS > 0 ? live.counts.sent / elapsedS : 0;
  const targetRate = cfg.rate;
  let rateShortfall: number | undefined;
  if (targetRate !== undefined) {
    // Rate over the span the schedule asked for: a run cut short by a stop is not a shortfall.
    const wanted = stats.started > 1 ? ((stats.started - 1) * 1000) / targetRate : 0;
    const took = stats.elapsedMs;
    rateShortfall = wanted > 0 && took > wanted ? 1 - wanted / took : 0;
  }
  let reportDir: string | undefined;
  if (sink !== undefined) {
    reportDir = await sink.finish({ run: live, verdict, gates, mockCounts, achievedRate, targetRate, baselineDir: cfg.baseline });
  }
  const result: ReplayResult = {
    runId,
    verdict,
    exitCode: verdict === 'aborted' ? ExitCode.aborted : verdict === 'failed' ? ExitCode.gateFailed : ExitCode.ok,
    abortReason,
    gates,
    counts: { ...live.counts },
    reportDir,
    achievedRate,
    targetRate,
    rateShortfall,
    schedule: { lagP50Ms: stats.lag.quantile(0.5), lagP99Ms: stats.lag.quantile(0.99), lagMaxMs: stats.lag.max, maxBuffered: stats.maxBuffered },
    mockCounts,
  };
  runLog.info(
    { verdict, counts: result.counts, corrupt, skippedOther, filtered, achievedRate: Math.round(achievedRate), lagP99Ms: result.schedule.lagP99Ms },
    'replay finished',
  );
  return result;
}

async function dryRun(
  source: AsyncIterable<HttpExchange>,
  buildOpts: RequestBuildOptions,
  write: (line: string) => void,
  runId: string,
  target: string,
): Promise<ReplayResult> {
  let n = 0;
  for await (const ex of source) {
    const out = buildRequest(ex, undefined, buildOpts);
    const body = out.body === undefined ? '' : ` (${out.body.length} bytes)`;
    write(`${ex.session || ex.id}\t${out.method} ${target.replace(/\/$/, '')}${out.path}${body}`);
    n++;
  }
  const counts: RunCounts = { sent: 0, passed: 0, failed: 0, errors: 0, warmup: 0, unjudged: n, cancelled: 0, noiseSamples: 0, newMismatches: 0 };
  return {
    runId,
    verdict: 'passed',
    exitCode: ExitCode.ok,
    abortReason: undefined,
    gates: [],
    counts,
    reportDir: undefined,
    achievedRate: 0,
    targetRate: undefined,
    rateShortfall: undefined,
    schedule: { lagP50Ms: 0, lagP99Ms: 0, lagMaxMs: 0, maxBuffered: 0 },
    mockCounts: undefined,
  };
}

/**
 * Sessions by the configured key, read from the recorded request: an exchange
 * whose recorded session is its own id (recorded with the default key) gets
 * the session its header, cookie or JWT claim names; one recorded with a key
 * keeps it. `exchange` and `connection` keys change nothing (a replayed
 * exchange carries no connection id).
 */
export function replaySessionKeyer(key: string | undefined): ((ex: HttpExchange) => string) | undefined {
  if (key === undefined) return undefined;
  const spec = parseSessionKey(key);
  if (spec.kind === 'exchange' || spec.kind === 'connection') return undefined;
  // Recorded secrets are placeholders already; equal placeholders still group.
  const keyer = createSessionKeyer(spec, (v) => v);
  return (ex) => {
    if (ex.session !== '' && ex.session !== ex.id) return ex.session;
    const raw: string[] = [];
    for (const [n, v] of ex.http.request.headers) raw.push(n, v);
    return keyer({ rawHeaders: raw, connectionId: '', exchangeId: ex.id });
  };
}
