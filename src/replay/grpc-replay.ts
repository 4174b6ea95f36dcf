/**
 * Replay of recorded inbound gRPC calls (replay.protocol: grpc) on the same
 * schedule as HTTP replay (session-scheduler.ts): sessions in recorded order
 * and side by side, recorded gaps scaled by replay.time_scale and capped at
 * replay.max_delay, or an open-model replay.rate; replay.duration, warmup,
 * include/exclude, a baseline run (--baseline: paired durations for latency
 * gates, new_mismatch), a secondary for noise, mock counts and
 * replay.headers apply as for HTTP. Each answer is judged against the
 * recorded one through the one judge (judge/grpc-pair.ts lifts the pair).
 *
 * What reads HTTP alone is refused up front (exit 2): replay.captures
 * (JSON bodies and headers of HTTP answers), --dry-run, and the scale-out
 * flags (checked by the CLI).
 */
import { createComparator } from '../compare/comparator.js';
import { createNoiseLearner } from '../compare/noise.js';
import type { GrpcConfig } from '../config/schema.js';
import { LATENCY_GATES } from '../config/gate-expression.js';
import { DoppelError, ExitCode, usageError } from '../core/errors.js';
import { isGrpcExchange, type GrpcExchange } from '../core/exchange.js';
import { newRunId } from '../core/ids.js';
import { compilePath } from '../core/json-path.js';
import { loadTargetTls, type TargetTls } from '../core/tls.js';
import { createGateEvaluator } from '../gates/gate-evaluator.js';
import { createRunMetrics } from '../gates/run-metrics.js';
import type { MockCounts, Verdict } from '../gates/types.js';
import { createJudge } from '../judge/judge.js';
import { createRunReportWriter } from '../judge/run-report.js';
import { configuredDescriptors } from '../protocols/grpc/configured-descriptors.js';
import { grpcEndpoint } from '../protocols/grpc/grpc-exchange.js';
import { readBaselineReport } from '../report/baseline-report.js';
import { openStoreReader } from '../store/open-store.js';
import type { ExchangeReader } from '../store/types.js';
import { GrpcCallPlayer } from './grpc-call-player.js';
import { createGrpcSender, type GrpcSender } from '../protocols/grpc/grpc-sender.js';
import { createMockAdminClient } from './mock-admin-client.js';
import { ReplayRun } from './replay-run.js';
import { checkTrafficDirs } from './replay-source.js';
import { ReplayStop } from './replay-stop.js';
import { createRequestFilter, type RequestFilter } from './request-filter.js';
import type { ReplayDeps, ReplayOptions, ReplayResult } from './run-replay.js';
import { scheduleSessions, type SchedulerStats, type Timing } from './session-scheduler.js';
import { startGateExport } from './judged-tally.js';

export interface GrpcReplayOptions extends ReplayOptions {
  grpc: Readonly<GrpcConfig>;
  cwd: string;
}

const DEFAULT_WINDOW = 10_000;
const SESSION_MEMORY = 10_000;

/** Inbound gRPC calls that pass the filters (a call is `POST /package.Service/Method`), up to the limit. */
async function* inboundCalls(reader: ExchangeReader, filter: RequestFilter, limit: number | undefined, seen: { calls: number }): AsyncGenerator<GrpcExchange> {
  for await (const ex of reader.read()) {
    if (!isGrpcExchange(ex) || ex.direction !== 'inbound') continue;
    if (!filter.accepts('POST', grpcEndpoint(ex))) continue;
    if (limit !== undefined && seen.calls >= limit) return;
    seen.calls++;
    yield ex;
  }
}

/** --insecure on a gRPC target: TLS without verification, as for HTTP targets. */
function targetTlsOf(options: GrpcReplayOptions): TargetTls | undefined {
  const cfg = options.replay;
  const tls = options.targetTls ?? loadTargetTls(cfg.target_tls, 'replay.target_tls');
  return cfg.insecure ? { ...tls, rejectUnauthorized: false } : tls;
}

export async function runGrpcReplay(options: GrpcReplayOptions, deps: ReplayDeps): Promise<ReplayResult> {
  const cfg = options.replay;
  const { log, metrics, clock } = deps;
  const runId = options.runId ?? cfg.run_id ?? newRunId(clock.now());

  // --- validation: every problem found here is exit 2, before anything is sent
  const dirs = cfg.traffic === undefined ? [] : typeof cfg.traffic === 'string' ? [cfg.traffic] : [...cfg.traffic];
  if (options.reader === undefined && dirs.length === 0) throw usageError('replay.traffic: no traffic directory given (--traffic DIR[,DIR...])');
  if (cfg.target === undefined) throw usageError('replay.target: no target given (--target URL)');
  if (cfg.captures.length > 0) {
    throw usageError(
      'replay.captures: captures read JSON bodies and headers of HTTP answers; they do not apply to replay.protocol grpc (recorded gRPC messages are sent as recorded)',
    );
  }
  if (options.coordination !== undefined) throw usageError('--coordinator: a distributed replay hands out HTTP sessions; it does not apply to replay.protocol grpc');
  const target = cfg.target;
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
  if (options.reader === undefined) await checkTrafficDirs(dirs);
  const baseline = cfg.baseline === undefined ? undefined : await readBaselineReport(cfg.baseline);
  const tls = targetTlsOf(options);
  const descriptors = await configuredDescriptors(options.grpc, options.cwd, {
    url: target,
    ...(tls === undefined ? {} : { tls: { ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.rejectUnauthorized } }),
  });
  const reader = options.reader ?? openStoreReader(dirs);
  // An empty selection is an input error before any call goes out, as it was before the schedule streamed.
  const first = await inboundCalls(reader, filter, 1, { calls: 0 }).next();
  if (first.done === true) throw new DoppelError('DOPPEL_INPUT_INVALID', `${dirs.join(', ') || 'the traffic source'}: no inbound gRPC exchanges to replay`);

  // --- the judge
  const compare = options.compare;
  const noise = compare.learn_noise > 0 ? createNoiseLearner({ samplesPerEndpoint: compare.learn_noise, confidence: compare.noise_confidence }) : undefined;
  const comparator = createComparator(compare);
  const ignoredHeaders = new Set<string>();
  for (const rule of compare.ignore) {
    const p = compilePath(rule);
    if (p.kind === 'header') ignoredHeaders.add(p.name);
  }
  const runMetrics = createRunMetrics(metrics, runId, 'replay');
  const evaluator = createGateEvaluator({ gates: options.gates, cutoffs: options.cutoffs, hasLatencyBaseline: hasBaselineRun });
  const report = cfg.report === undefined ? undefined : createRunReportWriter(cfg.report, { maxDecodedBytes: compare.max_body_bytes });
  const runLog = log.child({ runId });
  const judge = createJudge({ comparator, noise, evaluators: [evaluator], metrics: runMetrics, report, maxSamples: 20, onSaturated: () => undefined, log: runLog });
  const mockSource = options.mockCounts ?? (cfg.mock_admin !== undefined && cfg.mock_admin.length > 0 ? createMockAdminClient(cfg.mock_admin, options.adminToken) : undefined);

  const startedAt = new Date(clock.now()).toISOString();
  const run = new ReplayRun(runId, target, startedAt, () => clock.monotonic());
  run.expectedTotal = cfg.limit;
  run.reportDir = cfg.report;
  run.showSamples(() => judge.samples());
  deps.observe?.(run);

  const stop = new ReplayStop({ signal: options.signal, durationMs: cfg.duration_ms, log: runLog });
  const timing: Timing = cfg.rate !== undefined ? { mode: 'rate', rps: cfg.rate } : { mode: 'recorded', timeScale: cfg.time_scale, maxDelayMs: cfg.max_delay_ms };
  const workers = Math.max(1, timing.mode === 'rate' ? cfg.max_in_flight : cfg.concurrency);
  const senders: GrpcSender[] = [];
  const sender = createGrpcSender({ target, tls, timeoutMs: cfg.timeout_ms, now: () => clock.monotonic() });
  senders.push(sender);
  let secondary: GrpcSender | undefined;
  if (cfg.secondary !== undefined) {
    secondary = createGrpcSender({ target: cfg.secondary, tls, timeoutMs: cfg.timeout_ms, now: () => clock.monotonic() });
    senders.push(secondary);
  }
  const player = new GrpcCallPlayer({
    run,
    target,
    sender,
    secondary,
    headers: Object.entries(cfg.headers ?? {}),
    env: { now: () => clock.now(), vars: options.vars },
    descriptors,
    ignoredHeaders,
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
  const seen = { calls: 0 };
  let stats: SchedulerStats;
  try {
    if (mockSource !== undefined) await mockSource.start();
    runLog.info({ target, timing, workers, descriptors: descriptors?.methods().length ?? 0 }, 'grpc replay started');
    stats = await scheduleSessions<GrpcExchange>({
      source: inboundCalls(reader, filter, cfg.limit, seen),
      workers,
      timing,
      window: cfg.window ?? DEFAULT_WINDOW,
      sessionMemory: SESSION_MEMORY,
      clock,
      signal: stop.signal,
      play: (req) => player.play(req.exchange),
    });
    run.counts.cancelled += Math.max(0, seen.calls - stats.started);
    if (player.answered === 0 && run.counts.errors > 0) {
      stop.abort(`target unreachable: ${run.counts.errors} calls to ${target} failed, none answered (${player.lastError ?? 'error'})`);
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
    stop.dispose();
    await Promise.all(senders.map((s) => s.close()));
  }

  player.isGatesDirty = true;
  gateExport.exportNow();
  const gates = run.gates;
  const abortReason = stop.abortReason;
  const verdict: Verdict = abortReason !== undefined ? 'aborted' : gates.some((g) => !g.isPassing) ? 'fail' : 'pass';
  run.verdict = verdict;
  run.abortReason = abortReason;
  run.finishedAt = new Date(clock.now()).toISOString();
  const baselineName = cfg.baseline === undefined ? 'recorded responses' : `baseline run ${cfg.baseline}`;
  if (report !== undefined) {
    await report.write({ runId, mode: 'replay', startedAt, finishedAt: run.finishedAt, verdict, abortReason, baseline: baselineName, target, evaluator, noise: noise?.learned() ?? [] }, {}, true);
  }
  const elapsedS = stats.elapsedMs / 1000;
  const achievedRate = elapsedS > 0 ? run.counts.sent / elapsedS : 0;
  let rateShortfall: number | undefined;
  if (cfg.rate !== undefined) {
    // Rate over the span the schedule asked for: a run cut short by a stop is not a shortfall.
    const wanted = stats.started > 1 ? ((stats.started - 1) * 1000) / cfg.rate : 0;
    rateShortfall = wanted > 0 && stats.elapsedMs > wanted ? 1 - wanted / stats.elapsedMs : 0;
  }
  runLog.info({ verdict, counts: run.counts, achievedRate: Math.round(achievedRate), lagP99Ms: stats.lag.quantile(0.99) }, 'replay finished');
  return {
    runId,
    verdict,
    exitCode: verdict === 'aborted' ? ExitCode.aborted : verdict === 'fail' ? ExitCode.gateFailed : ExitCode.ok,
    abortReason,
    gates,
    counts: { ...run.counts },
    reportDir: report?.dir,
    achievedRate,
    // gRPC messages are small: judged inline
    judgedOffLoop: 0,
    targetRate: cfg.rate,
    rateShortfall,
    schedule: { lagP50Ms: stats.lag.quantile(0.5), lagP99Ms: stats.lag.quantile(0.99), lagMaxMs: stats.lag.max, maxBuffered: stats.maxBuffered },
    mockCounts,
  };
}
