/**
 * What HTTP and gRPC replay do alike once a pair is judged: count the outcome
 * for the run, its endpoint and the replay metric, and export the gates every
 * second while judgments come in.
 */
import type { GateEvaluator } from '../gates/gate-evaluator.js';
import type { RunMetrics } from '../gates/run-metrics.js';
import type { ReplayRun } from './replay-run.js';

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
