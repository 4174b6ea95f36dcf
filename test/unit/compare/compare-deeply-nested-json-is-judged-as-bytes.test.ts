/**
 * JSON nested deeper than the stack can walk (100,000 arrays in 200 KB) is
 * judged as bytes and flagged instead of throwing out of the comparator;
 * the rest of the comparison (status, headers) stands, and a nesting the
 * walk can follow is still compared field by field.
 */
import { describe, expect, it } from 'vitest';
import { createComparator } from '../../../src/compare/comparator.js';
import { compareConfig, jsonResponse } from '../../helpers/compare-fixtures.js';

const nested = (depth: number, leaf: string) => '['.repeat(depth) + leaf + ']'.repeat(depth);

describe('deeply nested JSON', () => {
  const comparator = createComparator(compareConfig());

  it('judges a body too deep to walk as bytes, flagged', () => {
    const out = comparator.compare(jsonResponse(nested(100_000, '1')), jsonResponse(nested(100_000, '2'), 500), 'GET /deep');
    expect(out.flags).toContain('body-too-deep');
    expect(out.isBodyMatch).toBe(false);
    expect(out.isStatusMatch).toBe(false);
    expect(out.diffs.map((d) => d.path)).toEqual(['status', '$']);
    expect(out.diffs[1]?.kind).toBe('body-bytes');
  });

  it('matches equal bodies too deep to walk', () => {
    const body = nested(100_000, '1');
    const out = comparator.compare(jsonResponse(body), jsonResponse(body), 'GET /deep');
    expect(out).toMatchObject({ isMatch: true, flags: ['body-too-deep'] });
  });

  it('still walks a nesting it can follow', () => {
    const out = comparator.compare(jsonResponse(nested(500, '1')), jsonResponse(nested(500, '2')), 'GET /deep');
    expect(out.flags).toEqual([]);
    expect(out.diffs[0]).toMatchObject({ kind: 'changed' });
    expect(out.diffs[0]?.path.endsWith('[0]')).toBe(true);
  });
});
