/**
 * What the HTTP and gRPC replay drivers do alike before the first exchange
 * goes out: the input checks (every problem exit 2, before anything is sent),
 * the parts of the judge they share, the mock counts source, and the run as
 * the admin API and progress view see it.
 */
import { createComparator } from '../compare/comparator.js';
import { createNoiseLearner, type NoiseLearner } from '../compare/noise.js';
import type { Comparator } from '../compare/types.js';
import { DoppelError, usageError } from '../core/errors.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { LATENCY_GATES } from '../config/gate-expression.js';
import { createGateEvaluator, type GateEvaluator } from '../gates/gate-evaluator.js';
import { createRunMetrics, type RunMetrics } from '../gates/run-metrics.js';
import type { Judge } from '../judge/judge.js';
import type { Metrics } from '../metrics/metrics.js';
import type { BaselineReport } from '../report/baseline-report.js';
import type { PlayerJudging } from './judged-player.js';
import { createMockAdminClient } from './mock-admin-client.js';
import type { MockCountsSource, ReplayDeps, ReplayOptions } from './replay-options.js';
import type { ReplayRun } from './replay-run.js';
import type { ReplayStop } from './replay-stop.js';

/** replay.traffic as a list of directories. */
export function trafficDirsOf(traffic: string | readonly string[] | undefined): string[] {
  if (traffic === undefined) return [];
  return typeof traffic === 'string' ? [traffic] : [...traffic];
}

/** A traffic source and, unless nothing is to be sent, a target. */
export function checkTrafficAndTarget(options: ReplayOptions, dirs: readonly string[], isTargetRequired: boolean): void {
  if (options.reader === undefined && dirs.length === 0) throw usageError('replay.traffic: no traffic directory given (--traffic DIR[,DIR...])');
  if (options.replay.target === undefined && isTargetRequired) throw usageError('replay.target: no target given (--target URL)');
}

/** Latency gates compare durations of two runs on this machine: they need a baseline run. */
export function checkLatencyGates(gates: Readonly<Record<string, string>>, hasBaselineRun: boolean): void {
  for (const g of LATENCY_GATES) {
    if (gates[g] !== undefined && !hasBaselineRun) {
      throw new DoppelError(
        'DOPPEL_CONFIG_INVALID',
        `quality_gates.${g}: a latency gate needs a baseline run (--baseline DIR): recorded production durations are not comparable with this machine's`,
      );
    }
  }
}

/** The parts of the judge both drivers build alike; the judge over them is each driver's own. */
export interface ReplayJudgeParts {
  noise: NoiseLearner | undefined;
  comparator: Comparator;
  runMetrics: RunMetrics;
  evaluator: GateEvaluator;
}

export function createReplayJudgeParts(options: ReplayOptions, runId: string, metrics: Metrics): ReplayJudgeParts {
  const compare = options.compare;
  return {
    noise: compare.learn_noise > 0 ? createNoiseLearner({ samplesPerEndpoint: compare.learn_noise, confidence: compare.noise_confidence }) : undefined,
    comparator: createComparator(compare),
    runMetrics: createRunMetrics(metrics, runId, 'replay'),
    evaluator: createGateEvaluator({ gates: options.gates, cutoffs: options.cutoffs, hasLatencyBaseline: options.replay.baseline !== undefined }),
  };
}

/** What a player is given to judge, count, gate and stop, alike for HTTP and gRPC. */
export function playerJudgingOf(
  options: ReplayOptions,
  parts: ReplayJudgeParts,
  o: { judge: Judge; baseline: BaselineReport | undefined; stop: ReplayStop; clock: Clock; log: Logger },
): PlayerJudging {
  return {
    warmup: options.replay.warmup,
    unreachableAfter: Math.max(3, Math.min(options.cutoffs.min_requests, 20)),
    judge: o.judge,
    comparator: parts.comparator,
    noise: parts.noise,
    noiseSamples: options.compare.learn_noise,
    evaluator: parts.evaluator,
    metrics: parts.runMetrics,
    baseline: o.baseline,
    stop: o.stop,
    clock: o.clock,
    log: o.log,
  };
}

/** In-process mock counts when given, else the replay.mock_admin URLs, else none. */
export function mockCountsSourceOf(options: ReplayOptions): MockCountsSource | undefined {
  const admin = options.replay.mock_admin;
  return options.mockCounts ?? (admin !== undefined && admin.length > 0 ? createMockAdminClient(admin, options.adminToken) : undefined);
}

/** The run as the admin API and the progress view see it, from its start. */
export function showReplayRun(run: ReplayRun, o: { reportDir: string | undefined; judge: Judge; deps: ReplayDeps }): void {
  run.reportDir = o.reportDir;
  run.showSamples(() => o.judge.samples());
  o.deps.observe?.(run);
}
