/** The one path grammar (compare rules, captures, redaction, mock matching). */
import { expect } from 'vitest';
import fc from 'fast-check';
import { isDoppelError } from '../../../src/core/errors.js';
import { compilePath, formatPath, lastSegment, pathMatches, type PathSegment } from '../../../src/core/json-path.js';
import type { FuzzTarget } from '../fuzz-run.js';

/** Any text either compiles or is refused with DOPPEL_INPUT_INVALID naming the path; nothing else is thrown. */
export function checkPathSource(source: string): void {
  let compiled;
  try {
    compiled = compilePath(source);
  } catch (err) {
    if (!isDoppelError(err)) throw err;
    expect(err.code).toBe('DOPPEL_INPUT_INVALID');
    expect(err.message).toContain('invalid path');
    return;
  }
  // A compiled JSON path matches its own concrete rendering when it has no wildcard.
  if (compiled.kind === 'json' && compiled.steps.every((s) => s.kind === 'key' || s.kind === 'index')) {
    const path = compiled.steps.map((s) => (s.kind === 'key' ? s.name : s.kind === 'index' ? s.index : ''));
    expect(pathMatches(compilePath(formatPath(path)), path)).toBe(true);
  }
}

/** A concrete path rendered by formatPath compiles back to a pattern selecting exactly it. */
export function checkFormatRoundTrip(path: PathSegment[]): void {
  const pattern = compilePath(formatPath(path));
  expect(pathMatches(pattern, path)).toBe(true);
  expect(pattern.kind === 'json' ? pattern.steps.length : -1).toBe(path.length);
  const last = path[path.length - 1];
  if (last !== undefined) expect(lastSegment(pattern)).toBe(last);
}

export const pathGrammarTarget: FuzzTarget = {
  name: 'path-grammar',
  ext: 'txt',
  check: (input) => checkPathSource(input.toString('utf8')),
};

/** Inputs are JSON arrays of path segments (strings and indexes). */
export const pathFormatTarget: FuzzTarget = {
  name: 'path-format',
  ext: 'json',
  check: (input) => checkFormatRoundTrip(JSON.parse(input.toString('utf8')) as PathSegment[]),
};

/** Key text leaning on the characters the grammar treats specially. */
export const keyArb = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.array(fc.constantFrom("'", '"', '\\', ']', '[', '.', '*', '$', ' ', 'a', '0'), { maxLength: 8 }).map((cs) => cs.join('')),
);

export const pathArb = fc.array(fc.oneof(keyArb, fc.nat({ max: 1000 })), { maxLength: 6 });

/** Path sources: grammar pieces glued together, so most runs reach deep into the parser. */
export const pathSourceArb = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc
    .array(fc.constantFrom('$', '.', '..', '[', ']', '*', "'", '"', '\\', 'a', 'b c', '0', '12', 'header:', 'pg:$', 'pg:param:', ' ', '-1', '99999999999999999999'), { maxLength: 14 })
    .map((ps) => ps.join('')),
);
