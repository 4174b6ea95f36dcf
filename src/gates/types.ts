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
  /** true when every mismatch of the comparison was learned noise (the outcome then counts as a match) */
  isNoise?: boolean;
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

/** The one spelling of a verdict, as summary.json and junit.xml carry it. */
export type Verdict = 'pass' | 'fail' | 'aborted';

/** What produced a run's judgments. */
export type RunMode = 'replay' | 'shadow';

/** Totals of a run (or of a window), as reports and the admin API show them. */
export interface RunCounts {
  requests: number;
  answered: number;
  errors: number;
  statusPass: number;
  bodyMatch: number;
  mismatches: number;
  /** comparisons whose only differences were learned noise */
  noise: number;
  /** mismatches the baseline run did not have */
  newMismatches: number;
  /** candidate 5xx answers where the baseline did not answer 5xx */
  unexpected5xx: number;
  fields: { match: number; mismatch: number; ignored: number };
  mock: MockCounts;
}

export interface Percentiles {
  count: number;
  p50: number | undefined;
  p95: number | undefined;
  p99: number | undefined;
  /**
   * The distribution as [quantile, ms] points at CDF_QUANTILES (a bounded set,
   * read from the sketch, never raw samples); absent when there is no duration
   * and in reports written before it existed.
   */
  cdf?: Array<[number, number]>;
}

/** Durations in milliseconds; `paired` only counts requests with both durations. */
export interface LatencySummary {
  baseline: Percentiles;
  candidate: Percentiles;
  paired: { baseline: Percentiles; candidate: Percentiles };
}

export interface EndpointStats {
  endpoint: string;
  requests: number;
  errors: number;
  statusPass: number;
  bodyMatch: number;
  mismatches: number;
  noise: number;
  newMismatches: number;
  fields: { match: number; mismatch: number; ignored: number };
  latency: { baseline: Percentiles; candidate: Percentiles };
}
