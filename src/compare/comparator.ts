/**
 * The comparator: status, selected headers and bodies of a baseline and a
 * candidate response. JSON bodies are compared field by field under the rules
 * of the `compare` config (one path grammar); other bodies by bytes
 * (header-compare.ts, body-compare.ts, json-walk.ts).
 *
 * Rules are compiled once in createComparator (compiled-rules.ts) and shared
 * by every comparison.
 */
import type { CompareConfig } from '../config/schema.js';
import { parseSizeBytes } from '../config/duration.js';
import { DoppelError } from '../core/errors.js';
import { compilePath } from '../core/json-path.js';
import { compareBodies } from './body-compare.js';
import { parseTolerance, type CompiledRules, type Tolerance } from './compiled-rules.js';
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

/** Every problem of a compare section, each naming its key: `compare.ignore[2]: invalid path ...`. */
export function validateCompareConfig(cfg: CompareConfig, prefix = 'compare'): string[] {
  const problems: string[] = [];
  const check = (key: string, source: string, jsonOnly: boolean) => {
    try {
      const p = compilePath(source);
      if (jsonOnly && p.kind !== 'json') problems.push(`${key}: ${JSON.stringify(source)} is a ${p.kind} rule; only ignore accepts header:NAME and pg:$N here, expected a JSON path like $.total`);
    } catch (err) {
      problems.push(`${key}: ${(err as Error).message}`);
    }
  };
  cfg.ignore.forEach((s, i) => check(`${prefix}.ignore[${i}]`, s, false));
  cfg.unordered.forEach((s, i) => check(`${prefix}.unordered[${i}]`, s, true));
  cfg.presence.forEach((s, i) => check(`${prefix}.presence[${i}]`, s, true));
  for (const [path, tol] of Object.entries(cfg.tolerances)) {
    const key = `${prefix}.tolerances[${JSON.stringify(path)}]`;
    check(key, path, true);
    if (parseTolerance(tol) === undefined) problems.push(`${key}: expected an absolute tolerance like 0.01 or a relative one like "1%", got ${JSON.stringify(tol)}`);
  }
  if (parseSizeBytes(cfg.max_body_bytes) === undefined) problems.push(`${prefix}.max_body_bytes: expected a size like "1mb", got ${JSON.stringify(cfg.max_body_bytes)}`);
  return problems;
}

export function createComparator(cfg: CompareConfig, opts: ComparatorOptions = {}): Comparator {
  const problems = validateCompareConfig(cfg);
  if (problems.length > 0) {
    throw new DoppelError('DOPPEL_CONFIG_INVALID', `${problems.length} problem${problems.length === 1 ? '' : 's'} in compare rules`, { details: problems });
  }
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
    maxBodyBytes: parseSizeBytes(cfg.max_body_bytes) ?? 1024 * 1024,
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
