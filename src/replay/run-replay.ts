/**
 * The replay engine: streams recorded inbound HTTP exchanges to a target,
 * session by session, and judges each response as it arrives. `doppel
 * replay` is a thin CLI over `runReplay`; `doppel run` calls it in-process
 * with its own config, in-process mock counts and a baseline phase. The
 * steps live beside it: the source (replay-source.ts), the stop
 * (replay-stop.ts), one request played and judged (replay-player.ts).
 */
import { availableParallelism } from 'node:os';
import { createComparator } from '../compare/comparator.js';
import { createNoiseLearner } from '../compare/noise.js';
import type { Clock } from '../core/clock.js';
import { DoppelError, ExitCode, usageError } from '../core/errors.js';
import type { HttpExchange } from '../core/exchange.js';
import { newRunId } from '../core/ids.js';
import type { Logger } from '../core/logger.js';
import { loadTargetTls, type TargetTls } from '../core/tls.js';
import type { CutoffsConfig } from '../config/schema.js';
import type { ResolvedCompare, ResolvedReplay } from '../config/resolve.js';
import { LATENCY_GATES } from '../config/gate-expression.js';
import { createGateEvaluator } from '../gates/gate-evaluator.js';
import { createRunMetrics } from '../gates/run-metrics.js';
import type { GateResult, MockCounts, Verdict } from '../gates/types.js';
import { createJudge } from '../judge/judge.js';
import { createJudgePool } from '../judge/judge-pool.js';
import { createRunReportWriter } from '../judge/run-report.js';
import type { Metrics } from '../metrics/metrics.js';
import { readBaselineReport } from '../report/baseline-report.js';
import { openStoreReader } from '../store/open-store.js';
import type { ExchangeReader } from '../store/types.js';
import { createSessionKeyer, parseSessionKey } from '../core/sessions.js';
import { createHttpSender, type HttpSender } from './http-sender.js';
import { createMockAdminClient } from './mock-admin-client.js';
import { ReplayPlayer } from './replay-player.js';
import { ReplayRun, type ReplayCounts } from './replay-run.js';
import { checkTrafficDirs, countInbound, openReplaySource } from './replay-source.js';
import { ReplayStop } from './replay-stop.js';
import { buildRequest, type RequestBuildOptions } from './request-builder.js';
import { createRequestFilter } from './request-filter.js';
import { compileCaptures } from './runtime-vars.js';
import { followLiveWorkers, shareOf, type ShareChange } from './run-share.js';
import { scheduleSessions, type SchedulerStats, type Timing } from './session-scheduler.js';
import { mergeRunReport, writeMergedReport } from './coordinate/merge.js';
import { ReplayShard } from './coordinate/shard.js';
import type { Coordinator } from './coordinate/types.js';
import { startGateExport } from './judged-tally.js';

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
  replay: Readonly<ResolvedReplay>;
  /** replay.target_tls read by the caller (paths resolved against its working directory); read here when absent */
  targetTls?: TargetTls | undefined;
  compare: Readonly<ResolvedCompare>;
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
  /**
   * joins a run shared by several workers (coordinate/): sessions come from the coordinator, rate
   * and concurrency are split across the live workers, and the last worker writes the merged report
   */
  coordination?: { coordinator: Coordinator; pollMs: number; isLoadOnly?: boolean };
}

export interface ReplayDeps {
  log: Logger;
  metrics: Metrics;
  clock: Clock;
  /** called once the run exists (admin API, progress view) */
  observe?: (run: ReplayRun) => void;
}

export interface ReplayResult {
  runId: string;
  verdict: Verdict;
  exitCode: ExitCode;
  abortReason: string | undefined;
  gates: GateResult[];
  counts: ReplayCounts;
  reportDir: string | undefined;
  /**
   * coordinated runs: whether this worker wrote the merged report, the sessions it sent again, and
   * its share of the run's rate and concurrency each time the live workers changed (the first at start)
   */
  shard?: { isReporter: boolean; resent: number; shares: ShareChange[] };
  /** requests per second actually sent */
  achievedRate: number;
  /** pairs compared in the judge's worker threads (over replay.judge_inline_bytes), off the sending loop */
  judgedOffLoop: number;
  /** --rate when given */
  targetRate: number | undefined;
  /** share of the target rate not reached (0 when reached) */
  rateShortfall: number | undefined;
  schedule: { lagP50Ms: number; lagP99Ms: number; lagMaxMs: number; maxBuffered: number };
  mockCounts: MockCounts | undefined;
}

const DEFAULT_WINDOW = 10_000;
/** Diff samples the live view keeps (GET /api/runs/:id). */
const DIFF_SAMPLES = 20;
const SESSION_MEMORY = 10_000;

function asList(v: string | readonly string[] | undefined): string[] {
  if (v === undefined) return [];
  return typeof v === 'string' ? [v] : [...v];
}

function originOf(target: string): string {
  return new URL(target).origin;
}

export async function runReplay(options: ReplayOptions, deps: ReplayDeps): Promise<ReplayResult> {
  const cfg = options.replay;
  const { log, metrics, clock } = deps;
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
  const { max_delay_ms: maxDelayMs, timeout_ms: timeoutMs, duration_ms: durationMs } = cfg;
  const maxBodyBytes = options.compare.max_body_bytes;
  if (options.reader === undefined) await checkTrafficDirs(dirs);
  const reader = options.reader ?? openStoreReader(dirs);
  const source = await openReplaySource({ reader, filter, limit: cfg.limit, dirs, metrics, log });

  const buildOpts: RequestBuildOptions = {
    targetOrigin: originOf(target),
    headers: Object.entries(cfg.headers ?? {}),
    env: { now: () => clock.now(), vars: options.vars },
  };
  if (options.dryRun !== undefined) return dryRun(source.exchanges, buildOpts, options.dryRun, runId, target);

  // --- the judge
  const compare = options.compare;
  const noise = compare.learn_noise > 0 ? createNoiseLearner({ samplesPerEndpoint: compare.learn_noise, confidence: compare.noise_confidence }) : undefined;
  const comparator = createComparator(compare);
  const runMetrics = createRunMetrics(metrics, runId, 'replay');
  const evaluator = createGateEvaluator({ gates: options.gates, cutoffs: options.cutoffs, hasLatencyBaseline: hasBaselineRun });
  const baseline = cfg.baseline === undefined ? undefined : await readBaselineReport(cfg.baseline);
  // A coordinated worker writes no report of its own: the last one writes the merged one.
  const report = cfg.report === undefined || options.coordination !== undefined ? undefined : createRunReportWriter(cfg.report, { maxDecodedBytes: maxBodyBytes });
  const runLog = log.child({ runId });
  const coordination = options.coordination;
  const startedAt = new Date(clock.now()).toISOString();
  const shard =
    coordination === undefined
      ? undefined
      : new ReplayShard({
          coordinator: coordination.coordinator,
          evaluator,
          noise,
          run: {
            gates: { ...options.gates },
            cutoffs: { ...options.cutoffs },
            hasLatencyBaseline: hasBaselineRun,
            noiseConfidence: compare.noise_confidence,
            target,
            baseline: cfg.baseline === undefined ? 'recorded responses' : `baseline run ${cfg.baseline}`,
            startedAt,
          },
          isCollectingLines: cfg.report !== undefined,
          maxDecodedBytes: maxBodyBytes,
          pollMs: coordination.pollMs,
          log: runLog,
        });
  // Large pairs are compared in worker threads, off the loop that sends; threads start on the first
  // one, and a pair the pool cannot take at once is compared here rather than dropped.
  const pool =
    cfg.judge_workers === 0
      ? undefined
      : createJudgePool({ compare, workers: Math.min(cfg.judge_workers, Math.max(1, availableParallelism() - 1)), maxQueued: Math.max(4, cfg.concurrency), log: runLog });
  const judge = createJudge({
    comparator,
    pool,
    inlineMaxBytes: cfg.judge_inline_bytes,
    whenPoolFull: 'inline',
    noise,
    evaluators: [shard?.evaluatorSink ?? evaluator],
    metrics: runMetrics,
    report: shard?.reportSink ?? report,
    maxSamples: DIFF_SAMPLES,
    onSaturated: () => undefined,
    log: runLog,
  });
  const mockSource =
    options.mockCounts ?? (cfg.mock_admin !== undefined && cfg.mock_admin.length > 0 ? createMockAdminClient(cfg.mock_admin, options.adminToken) : undefined);

  const run = new ReplayRun(runId, target, startedAt, () => clock.monotonic());
  const inbound = options.reader === undefined ? await countInbound(dirs) : undefined;
  const limit = cfg.limit;
  run.expectedTotal = limit === undefined ? inbound : inbound === undefined ? limit : Math.min(limit, inbound);
  run.reportDir = cfg.report;
  run.showSamples(() => judge.samples());
  deps.observe?.(run);

  const stop = new ReplayStop({ signal: options.signal, durationMs, log: runLog });
  const sessionOf = replaySessionKeyer(options.sessionKey);
  let share = 1;
  if (shard !== undefined && coordination !== undefined) {
    await shard.start(source.exchanges, sessionOf ?? ((ex) => ex.session || ex.id), stop.signal);
    if (coordination.isLoadOnly === true) {
      await coordination.coordinator.leave();
      stop.dispose();
      return emptyResult(runId, 0);
    }
    // Rate and concurrency are the whole run's: each live worker takes its share.
    share = await coordination.coordinator.liveWorkers();
  }
  const total = { rate: cfg.rate, concurrency: cfg.rate !== undefined ? cfg.max_in_flight : cfg.concurrency };
  const first = shareOf(total, share);
  const runShare =
    coordination === undefined || shard === undefined
      ? undefined
      : followLiveWorkers({ coordinator: coordination.coordinator, total, liveWorkers: share, pollMs: coordination.pollMs, clock, signal: stop.signal, log: runLog });
  const scheduleShare = runShare?.schedule;
  const timing: Timing =
    first.rate !== undefined
      ? { mode: 'rate', rps: first.rate }
      : { mode: 'recorded', timeScale: cfg.time_scale, maxDelayMs };
  const workers = first.concurrency;
  const senders: HttpSender[] = [];
  const tls = options.targetTls ?? loadTargetTls(cfg.target_tls, 'replay.target_tls');
  const http2 = cfg.target_http2;
  // A coordinated worker's share may grow when others are lost: the pool may hold the whole run's
  // connections, and only opens as many as there are requests in flight.
  const sender = createHttpSender({ target, connections: shard === undefined ? workers : total.concurrency, insecure: cfg.insecure, tls, timeoutMs, maxBodyBytes, http2, now: () => clock.monotonic(), signal: stop.signal });
  senders.push(sender);
  let secondary: HttpSender | undefined;
  if (cfg.secondary !== undefined) {
    secondary = createHttpSender({ target: cfg.secondary, connections: Math.min(workers, 16), insecure: cfg.insecure, tls, timeoutMs, maxBodyBytes, http2, now: () => clock.monotonic(), signal: stop.signal });
    senders.push(secondary);
  }
  const player = new ReplayPlayer({
    run,
    target,
    sender,
    secondary,
    buildOpts,
    captures,
    maxBodyBytes,
    warmup: cfg.warmup,
    unreachableAfter: Math.max(3, Math.min(options.cutoffs.min_requests, 20)),
    judge,
    comparator,
    noise,
    noiseSamples: compare.learn_noise,
    evaluator,
    metrics: runMetrics,
    baseline,
    stop,
    clock,
    log: runLog,
  });


  let mockCounts: MockCounts | undefined;
  const gateExport = startGateExport(player, run, evaluator, runMetrics);
  // Workers that join late or are lost change every live worker's share.
  runShare?.start();
  let stats: SchedulerStats;
  try {
    if (mockSource !== undefined) await mockSource.start();
    runLog.info({ target, timing, workers, ...(shard === undefined ? {} : { liveWorkers: share }) }, 'replay started');
    const schedulerSessionOf = shard?.sessionOf ?? sessionOf;
    stats = await scheduleSessions({
      // A worker leases a few sessions ahead of its senders, so the others get theirs.
      source: shard?.exchanges(() => scheduleShare?.workers ?? workers, stop.signal) ?? source.exchanges,
      ...(schedulerSessionOf === undefined ? {} : { sessionOf: schedulerSessionOf }),
      workers,
      timing,
      ...(scheduleShare === undefined ? {} : { share: scheduleShare }),
      window: shard === undefined ? (cfg.window ?? DEFAULT_WINDOW) : () => Math.max(8, (scheduleShare?.workers ?? workers) * 2),
      sessionMemory: SESSION_MEMORY,
      clock,
      signal: stop.signal,
      play:
        shard === undefined
          ? (req, session) => player.play(req, session)
          : async (req, session) => {
              await player.play(req, session);
              if (!stop.signal.aborted) shard.played(req.exchange.id);
            },
    });
    if (player.answered === 0 && run.counts.errors > 0) {
      stop.abort(`target unreachable: ${run.counts.errors} requests to ${target} failed, none answered (${player.lastError ?? 'error'})`);
    }
    if (mockSource !== undefined) {
      try {
        mockCounts = await mockSource.delta();
        evaluator.addMockCounts(mockCounts);
      } catch (err) {
        runLog.warn({ err }, 'could not read mock counts at the end of the run');
      }
    }
  } finally {
    gateExport.stop();
    runShare?.stop();
    stop.dispose();
    await Promise.all(senders.map((s) => s.close()));
    await pool?.close();
  }

  player.isGatesDirty = true;
  gateExport.exportNow();
  let gates = run.gates;
  let abortReason = stop.abortReason;
  let isReporter = false;
  if (shard !== undefined && coordination !== undefined) {
    isReporter = await shard.finish(abortReason, new Date(clock.now()).toISOString());
    if (isReporter) {
      // The last worker's verdict is the run's: gates over every worker's sessions.
      const merged = cfg.report === undefined ? await mergeRunReport(coordination.coordinator, runId) : await writeMergedReport(coordination.coordinator, runId, cfg.report);
      gates = merged.gates;
      abortReason = merged.abortReason;
    }
    run.gates = gates;
  }
  // A worker that did not write the merged report has done its share: its own gates are not the run's.
  const isShare = shard !== undefined && !isReporter;
  const verdict: Verdict = abortReason !== undefined ? 'aborted' : !isShare && gates.some((g) => !g.isPassing) ? 'fail' : 'pass';
  run.verdict = verdict;
  run.abortReason = abortReason;
  run.finishedAt = new Date(clock.now()).toISOString();
  const elapsedS = stats.elapsedMs / 1000;
  const achievedRate = elapsedS > 0 ? run.counts.sent / elapsedS : 0;
  const targetRate = cfg.rate;
  let rateShortfall: number | undefined;
  if (targetRate !== undefined) {
    // Rate over the span the schedule asked for: a run cut short by a stop is not a shortfall.
    const wanted = stats.started > 1 ? ((stats.started - 1) * 1000) / targetRate : 0;
    const took = stats.elapsedMs;
    rateShortfall = wanted > 0 && took > wanted ? 1 - wanted / took : 0;
  }
  if (report !== undefined && shard === undefined) {
    await report.write(
      {
        runId,
        mode: 'replay',
        startedAt: run.startedAt,
        finishedAt: run.finishedAt,
        verdict,
        abortReason,
        baseline: cfg.baseline === undefined ? 'recorded responses' : `baseline run ${cfg.baseline}`,
        target,
        evaluator,
        noise: noise?.learned() ?? [],
      },
      {},
      true,
    );
  }
  const result: ReplayResult = {
    runId,
    verdict,
    exitCode: verdict === 'aborted' ? ExitCode.aborted : verdict === 'fail' ? ExitCode.gateFailed : ExitCode.ok,
    abortReason,
    gates,
    counts: { ...run.counts },
    reportDir: report?.dir ?? (isReporter ? cfg.report : undefined),
    ...(shard === undefined ? {} : { shard: { isReporter, resent: shard.resent, shares: runShare?.changes ?? [] } }),
    achievedRate,
    judgedOffLoop: judge.offloaded,
    targetRate,
    rateShortfall,
    schedule: { lagP50Ms: stats.lag.quantile(0.5), lagP99Ms: stats.lag.quantile(0.99), lagMaxMs: stats.lag.max, maxBuffered: stats.maxBuffered },
    mockCounts,
  };
  const { corrupt, skippedOther, filtered } = source.skips;
  runLog.info(
    { verdict, counts: result.counts, corrupt, skippedOther, filtered, achievedRate: Math.round(achievedRate), lagP99Ms: result.schedule.lagP99Ms, judgedOffLoop: judge.offloaded },
    'replay finished',
  );
  return result;
}

/** A run that sent nothing: a dry run (`unjudged` counts what it printed) or a --load-only loader. */
function emptyResult(runId: string, unjudged: number): ReplayResult {
  const counts: ReplayCounts = { sent: 0, passed: 0, failed: 0, errors: 0, warmup: 0, unjudged, cancelled: 0, noiseSamples: 0, newMismatches: 0 };
  return {
    runId,
    verdict: 'pass',
    exitCode: ExitCode.ok,
    abortReason: undefined,
    gates: [],
    counts,
    reportDir: undefined,
    achievedRate: 0,
    judgedOffLoop: 0,
    targetRate: undefined,
    rateShortfall: undefined,
    schedule: { lagP50Ms: 0, lagP99Ms: 0, lagMaxMs: 0, maxBuffered: 0 },
    mockCounts: undefined,
  };
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
  return emptyResult(runId, n);
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
