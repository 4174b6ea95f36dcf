/**
 * The compare rules as one comparison reads them: compiled once from the
 * `compare` config by createComparator (comparator.ts), then shared by the
 * header, body and JSON walks of every comparison.
 */
import type { Tolerance } from '../config/check-compare.js';
import type { RuleSet } from './rule-set.js';

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

export function isWithin(a: number, b: number, tol: Tolerance): boolean {
  const delta = Math.abs(a - b);
  // A little slack for binary floating point: 0.1 + 0.2 is within 0.3 +/- 0.
  const slack = 1e-12 * Math.max(Math.abs(a), Math.abs(b), 1);
  if (delta <= tol.abs + slack) return true;
  return tol.rel > 0 && delta <= tol.rel * Math.max(Math.abs(a), Math.abs(b)) + slack;
}
