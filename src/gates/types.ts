import type { CompareOutcome } from '../compare/types.js';

/** One judged request, as replay or shadow hands it to the gate evaluator. */
export interface JudgedRequest {
  exchangeId: string;
  endpoint: string;
  /** candidate answered (false: connection error, timeout) */
  isAnswered: boolean;
  candidateStatus: number | undefined;
  baselineStatus: number;
  outcome: CompareOutcome | undefined;
  candidateMs: number | undefined;
  /** paired baseline duration (live primary or baseline run), when there is one */
  baselineMs: number | undefined;
  /** true when the baseline run had a mismatch for the same exchange */
  isKnownMismatch?: boolean;
}

export interface GateResult {
  gate: string;
  expression: string;
  value: number | undefined;
  threshold: number;
  isPassing: boolean;
  /** why there is no value, e.g. "no baseline run" */
  note?: string;
}

export interface MockCounts {
  matched: number;
  unmatched: number;
  passthrough: number;
}
