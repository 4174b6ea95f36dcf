/**
 * What HTTP and gRPC replay do alike once a pair is judged: count the outcome
 * for the run, its endpoint and the replay metric, and export the gates every
 * second while judgments come in.
 */
import type { NoiseLearner } from '../compare/noise.js';
import type { Comparator } from '../compare/types.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { GateEvaluator } from '../gates/gate-evaluator.js';
import type { RunMetrics } from '../gates/run-metrics.js';
import type { Judge } from '../judge/judge.js';
import type { BaselineReport } from '../report/baseline-report.js';
import type { ReplayRun } from './replay-run.js';
import type { ReplayStop } from './replay-stop.js';

/** What an HTTP and a gRPC player are given alike: how to judge, count, gate and stop. */
export interface PlayerJudging {
  /** requests sent first and not judged */
  warmup: number;
  /** consecutive failures with nothing answered after which the target counts as unreachable */
  unreachableAfter: number;
  judge: Judge;
  comparator: Comparator;
  noise: NoiseLearner | undefined;
  /** self-comparison samples wanted per endpoint */
  noiseSamples: number;
  evaluator: GateEvaluator;
  metrics: RunMetrics;
  baseline: BaselineReport | undefined;
  stop: ReplayStop;
  clock: Clock;
  log: Logger;
}

export function tallyJudgment(run: ReplayRun, metrics: RunMetrics, endpoint: string, isMatch: boolean, isKnownMismatch: boolean | undefined): void {
  const counts = run.counts;
  const ep = run.endpoint(endpoint);
  if (isMatch) {
    counts.passed++;
    ep.passed++;
    metrics.recordReplayResult(endpoint, 'pass');
  } else {
    counts.failed++;
    ep.failed++;
    metrics.recordReplayResult(endpoint, 'fail');
    if (isKnownMismatch === false) counts.newMismatches++;
  }
}

export interface GateExport {
  /** exports the gates now if a judgment came in since the last export */
  exportNow(): void;
  stop(): void;
}

export function startGateExport(player: { isGatesDirty: boolean }, run: ReplayRun, evaluator: GateEvaluator, metrics: RunMetrics): GateExport {
  const exportNow = () => {
    if (!player.isGatesDirty) return;
    player.isGatesDirty = false;
    run.gates = evaluator.results();
    metrics.exportGates(run.gates);
  };
  const timer = setInterval(exportNow, 1000);
  timer.unref();
  return { exportNow, stop: () => clearInterval(timer) };
}
