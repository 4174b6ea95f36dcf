import type { HeaderPairs } from '../core/exchange.js';

/** One side of a comparison: a complete HTTP response. */
export interface ResponseSample {
  status: number;
  headers: HeaderPairs;
  body: Buffer;
  /** end-to-end duration in milliseconds, when known */
  durationMs?: number;
}

export type DiffKind = 'status' | 'header' | 'changed' | 'missing' | 'extra' | 'type' | 'body-bytes' | 'not-json';

export interface FieldDiff {
  /** path in the one grammar: $.a.b[2].c or header:NAME or status */
  path: string;
  kind: DiffKind;
  expected?: unknown;
  actual?: unknown;
}

export interface FieldCounts {
  match: number;
  mismatch: number;
  ignored: number;
}

export interface CompareOutcome {
  /** true when status, selected headers and body all match */
  isMatch: boolean;
  isStatusMatch: boolean;
  isBodyMatch: boolean;
  fields: FieldCounts;
  /** bounded list of differences (the first N), enough for a readable diff */
  diffs: FieldDiff[];
  /** differences found beyond the bound of `diffs` (0 or absent when `diffs` is complete) */
  omittedDiffs?: number;
  /** set when a body claimed JSON but did not parse, and was compared as bytes */
  flags: string[];
}

/** What replay and shadow need from the judge: one call per pair of responses. */
export interface Comparator {
  compare(baseline: ResponseSample, candidate: ResponseSample, endpoint: string): CompareOutcome;
}
