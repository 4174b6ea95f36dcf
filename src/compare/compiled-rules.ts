/**
 * The compare rules as one comparison reads them: compiled once from the
 * `compare` config by createComparator (comparator.ts), then shared by the
 * header, body and JSON walks of every comparison.
 */
import type { RuleSet } from './rule-set.js';

export interface Tolerance {
  abs: number;
  /** relative tolerance as a fraction: "1%" -> 0.01 */
  rel: number;
}

export interface CompiledRules {
  ignore: RuleSet<true>;
  tolerances: RuleSet<Tolerance>;
  unordered: RuleSet<true>;
  presence: RuleSet<true>;
  /** header names compared, lower case; undefined means every header not volatile */
  headers: readonly string[] | undefined;
  ignoredHeaders: ReadonlySet<string>;
  valueClasses: boolean;
  maxBodyBytes: number;
  maxDiffs: number;
  maxPreviewChars: number;
}

/** `0.01` (absolute) or `"1%"` (relative); undefined when neither. */
export function parseTolerance(value: number | string): Tolerance | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? { abs: value, rel: 0 } : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(value);
  if (m) return { abs: 0, rel: Number(m[1]) / 100 };
  const n = Number(value);
  return value.trim() !== '' && Number.isFinite(n) && n >= 0 ? { abs: n, rel: 0 } : undefined;
}

export function isWithin(a: number, b: number, tol: Tolerance): boolean {
  const delta = Math.abs(a - b);
  // A little slack for binary floating point: 0.1 + 0.2 is within 0.3 +/- 0.
  const slack = 1e-12 * Math.max(Math.abs(a), Math.abs(b), 1);
  if (delta <= tol.abs + slack) return true;
  return tol.rel > 0 && delta <= tol.rel * Math.max(Math.abs(a), Math.abs(b)) + slack;
}
