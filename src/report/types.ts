/**
 * The report of a run (summary.json) and the records of its NDJSON files
 * (diffs.ndjson, results.ndjson). Plain versioned data: reports of earlier
 * runs are read back as baselines.
 */
import type { LearnedNoise } from '../compare/noise.js';
import type { FieldDiff } from '../compare/types.js';
import type { EndpointStats, GateResult, LatencySummary, RunCounts, RunMode, Verdict } from '../gates/types.js';

export const REPORT_FORMAT_VERSION = 1;

/** One line of diffs.ndjson: one mismatching (or unanswered) exchange. */
export interface DiffRecord {
  exchangeId: string;
  endpoint: string;
  result: 'mismatch' | 'error';
  baselineStatus: number;
  candidateStatus: number | undefined;
  diffs: FieldDiff[];
  omittedDiffs?: number;
  flags: string[];
  /** true when the baseline run had a mismatch for the same exchange */
  isKnownMismatch?: boolean;
  /** why the candidate did not answer */
  error?: string;
}

/** One line of results.ndjson: every judged exchange, for pairing by a later run. */
export interface ResultRecord {
  exchangeId: string;
  endpoint: string;
  /** candidate status; undefined when it did not answer */
  status: number | undefined;
  durationMs: number | undefined;
  isMatch: boolean;
}

/** The most frequent differing paths, per endpoint. */
export interface TopDiff {
  endpoint: string;
  /** array indices folded: $.items[*].price */
  path: string;
  kind: FieldDiff['kind'];
  /** exchanges that differed at this path */
  count: number;
  example: { exchangeId: string; expected?: unknown; actual?: unknown };
}

/** A mismatching exchange kept whole for the side-by-side view. */
export interface SideBySideSample {
  exchangeId: string;
  endpoint: string;
  baselineStatus: number;
  candidateStatus: number | undefined;
  diffs: FieldDiff[];
  /** response bodies as text, cut at a bound */
  baselineBody?: string;
  candidateBody?: string;
}

export interface RunReport {
  v: typeof REPORT_FORMAT_VERSION;
  runId: string;
  mode: RunMode;
  startedAt: string;
  finishedAt: string;
  verdict: Verdict;
  abortReason?: string;
  /** what the candidate was judged against: "recorded responses", "baseline run DIR", "live primary" */
  baseline?: string;
  target?: string;
  gates: GateResult[];
  counts: RunCounts;
  latency: LatencySummary;
  endpoints: EndpointStats[];
  noise: LearnedNoise[];
  topDiffs: TopDiff[];
  samples: SideBySideSample[];
  /** diff lines not written because the writer's buffer was full */
  diffsDropped?: number;
}
