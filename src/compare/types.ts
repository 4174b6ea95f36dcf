import type { UndecodedReason } from '../core/content-coding.js';
import type { HeaderPairs } from '../core/exchange.js';

/** One side of a comparison: a complete HTTP response. */
export interface ResponseSample {
  status: number;
  headers: HeaderPairs;
  /** the bytes received: decoded by the comparator when `headers` name a Content-Encoding */
  body: Buffer;
  /** true when `body` is already decoded (the headers still name the coding it arrived in) */
  isDecoded?: boolean;
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
  /**
   * Set when a body was compared as bytes though it claimed more: `baseline-not-json` /
   * `candidate-not-json` (did not parse), `body-over-limit` (over compare.max_body_bytes),
   * `body-too-deep` (JSON nested deeper than the walk can follow),
   * `baseline-` / `candidate-` `decode-over-limit` | `decode-corrupt` | `decode-unknown-coding`
   * (a Content-Encoding that could not be undone; a decompression bomb is cut at the cap).
   */
  flags: string[];
}

/** What replay and shadow need from the judge: one call per pair of responses. */
export interface Comparator {
  compare(baseline: ResponseSample, candidate: ResponseSample, endpoint: string): CompareOutcome;
}

/** Flags of a side whose Content-Encoding stayed undecoded, by reason: `candidate-decode-over-limit`, ... */
export const DECODE_FLAG_SUFFIX: Readonly<Record<UndecodedReason, string>> = {
  over_limit: 'decode-over-limit',
  corrupt: 'decode-corrupt',
  unknown_coding: 'decode-unknown-coding',
};

/** The reason of a flag set by an undecoded side, or undefined for any other flag. */
export function undecodedReasonOf(flag: string): UndecodedReason | undefined {
  const suffix = flag.startsWith('baseline-') ? flag.slice(9) : flag.startsWith('candidate-') ? flag.slice(10) : undefined;
  if (suffix === undefined) return undefined;
  for (const [reason, s] of Object.entries(DECODE_FLAG_SUFFIX)) if (s === suffix) return reason as UndecodedReason;
  return undefined;
}
