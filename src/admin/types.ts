/**
 * What the admin API needs from the running components. Each capability
 * registers the narrow provider it has; routes answer empty sets otherwise.
 */

import type { UnmatchedCall } from '../mock/unmatched-calls.js';
import type { RunsProvider } from '../judge/run-view.js';

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
