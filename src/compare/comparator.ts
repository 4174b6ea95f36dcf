/**
 * The comparator: status, selected headers and bodies of a baseline and a
 * candidate response. JSON bodies are compared field by field under the rules
 * of the `compare` config (one path grammar); other bodies by bytes
 * (header-compare.ts, body-compare.ts, json-walk.ts).
 *
 * Rules are compiled once in createComparator (compiled-rules.ts) and shared
 * by every comparison.
 */
import { parseTolerance, type Tolerance } from '../config/check-compare.js';
import type { ResolvedCompare } from '../config/resolve.js';
import { compilePath } from '../core/json-path.js';
import { compareBodies } from './body-compare.js';
import type { CompiledRules } from './compiled-rules.js';
import { compareHeaders, headerValue } from './header-compare.js';
import { Walk } from './json-walk.js';
import { createRuleSet } from './rule-set.js';
import type { CompareOutcome, Comparator, ResponseSample } from './types.js';

export interface ComparatorOptions {
  /** most diffs kept per comparison; the rest are counted in omittedDiffs */
  maxDiffs?: number;
  /** longest rendering of a value kept in a diff */
  maxPreviewChars?: number;
}

/** `cfg` comes checked from config/ (every path compiles, every tolerance parses). */
export function createComparator(cfg: ResolvedCompare, opts: ComparatorOptions = {}): Comparator {
  const ignoredHeaders = new Set<string>();
  const ignoreJson: Array<{ path: string; payload: true }> = [];
  for (const source of cfg.ignore) {
    const p = compilePath(source);
    if (p.kind === 'header') ignoredHeaders.add(p.name);
    else ignoreJson.push({ path: source, payload: true });
  }
  const wantsAll = cfg.headers.some((h) => h.trim() === '*');
  const rules: CompiledRules = {
    ignore: createRuleSet(ignoreJson),
    tolerances: createRuleSet(Object.entries(cfg.tolerances).map(([path, t]) => ({ path, payload: parseTolerance(t) as Tolerance }))),
    unordered: createRuleSet(cfg.unordered.map((path) => ({ path, payload: true as const }))),
    presence: createRuleSet(cfg.presence.map((path) => ({ path, payload: true as const }))),
    headers: wantsAll ? undefined : [...new Set(cfg.headers.map((h) => h.trim().toLowerCase()))],
    ignoredHeaders,
    valueClasses: cfg.value_classes,
    maxBodyBytes: cfg.max_body_bytes,
    maxDiffs: opts.maxDiffs ?? 50,
    maxPreviewChars: opts.maxPreviewChars ?? 512,
  };
  return {
    compare(baseline, candidate) {
      return compareResponses(rules, baseline, candidate);
    },
  };
}

function compareResponses(rules: CompiledRules, a: ResponseSample, b: ResponseSample): CompareOutcome {
  const walk = new Walk(rules);
  const flags: string[] = [];
  const isStatusMatch = a.status === b.status;
  if (!isStatusMatch) walk.diffAt('status', 'status', a.status, b.status);
  const isHeadersMatch = compareHeaders(walk, rules, a.headers, b.headers);
  const isBodyMatch = compareBodies(walk, rules, a, b, headerValue(a.headers, 'content-type'), headerValue(b.headers, 'content-type'), flags);
  const outcome: CompareOutcome = {
    isMatch: isStatusMatch && isHeadersMatch && isBodyMatch,
    isStatusMatch,
    isBodyMatch,
    fields: { match: walk.match, mismatch: walk.mismatch, ignored: walk.ignored },
    diffs: walk.diffs,
    flags,
  };
  if (walk.omitted > 0) outcome.omittedDiffs = walk.omitted;
  return outcome;
}
