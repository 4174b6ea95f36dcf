/**
 * How a replay or shadow run shows itself while it runs and after: its status
 * and summary, listed by the admin API (GET /api/runs) and printed by the CLI.
 */
import type { Verdict } from '../gates/types.js';

/** A run's state as the admin API spells it: a finished run's verdict in the past tense. */
export type RunStatus = 'running' | 'passed' | 'failed' | 'aborted';

const STATUS_OF_VERDICT = { pass: 'passed', fail: 'failed', aborted: 'aborted' } as const satisfies Record<Verdict, RunStatus>;

/** The admin API's spelling of a finished run's verdict. */
export function runStatusOf(verdict: Verdict): RunStatus {
  return STATUS_OF_VERDICT[verdict];
}

export interface RunSummaryView {
  id: string;
  mode: 'replay' | 'shadow' | 'run';
  status: RunStatus;
  startedAt: string;
  [key: string]: unknown;
}

export interface RunsProvider {
  list(): RunSummaryView[];
  get(id: string): Record<string, unknown> | undefined;
  /** writes a report for the run on demand; resolves to the directory */
  writeReport?(id: string): Promise<string>;
}
