/**
 * What the admin API needs from the running components. Each capability
 * registers the narrow provider it has; routes answer empty sets otherwise.
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

export interface UnmatchedCall {
  service: string;
  protocol: 'http' | 'pg' | 'grpc';
  /** when it was last seen */
  at: string;
  /** when it was first seen, where calls are counted per key */
  firstAt?: string;
  /** calls with this key, where calls are counted per key (exact) */
  count?: number;
  /** method + url for HTTP, SQL for Postgres, method path + messages for gRPC */
  request: Record<string, unknown>;
  /** the nearest recorded request and what differed */
  nearest?: Record<string, unknown> | undefined;
}

export interface UnmatchedProvider {
  unmatched(): UnmatchedCall[];
  /** calls no longer listed because more distinct keys came than are kept */
  overflow?(): number;
}

export interface MockControl {
  /** resets the sequence state (run start) */
  reset(): void;
}

export interface RecordControl {
  pause(): void;
  resume(): void;
  status(): Record<string, unknown>;
}

export interface AdminProviders {
  runs: RunsProvider[];
  unmatched: UnmatchedProvider[];
  mocks: MockControl[];
  recorders: RecordControl[];
  /** readiness checks; /readyz is 200 when all pass */
  readiness: Array<() => boolean>;
}

export function createAdminProviders(): AdminProviders {
  return { runs: [], unmatched: [], mocks: [], recorders: [], readiness: [] };
}
