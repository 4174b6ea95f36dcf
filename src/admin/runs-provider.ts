/**
 * GET /api/runs and /api/runs/:id for replay runs of this process: the live
 * run's counts, gate values and latest diff samples, then its final state.
 */
import type { ReplayRun } from '../replay/replay-run.js';
import type { RunsProvider, RunSummaryView } from '../judge/run-view.js';

export interface ReplayRunsProvider extends RunsProvider {
  add(run: ReplayRun): void;
}

/** Keeps the last `keep` runs (one-shot commands have one; `doppel run` a baseline and a candidate). */
export function createReplayRunsProvider(keep = 10): ReplayRunsProvider {
  const runs: ReplayRun[] = [];
  return {
    add(run) {
      runs.push(run);
      if (runs.length > keep) runs.shift();
    },
    list(): RunSummaryView[] {
      return runs.map((r) => r.summary());
    },
    get(id) {
      return runs.find((r) => r.id === id)?.detail();
    },
  };
}
