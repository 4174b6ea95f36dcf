import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { createComparator } from '../../../src/compare/comparator.js';
import { compareConfig, jsonResponse } from '../../helpers/compare-fixtures.js';

const jwt = (sub: string) =>
  `eyJhbGciOiJIUzI1NiJ9.${Buffer.from(JSON.stringify({ sub })).toString('base64url')}.c2lnbmF0dXJlLXNpZ25hdHVyZQ`;

describe('value classes with no ignore rules configured', () => {
  const base = {
    id: randomUUID(),
    createdAt: '2026-11-26T13:00:00.123Z',
    updatedAt: '2026-11-26T13:00:00+01:00',
    httpDate: 'Thu, 26 Nov 2026 13:00:00 GMT',
    epoch: 1795000000000,
    epochText: '1795000000000',
    etag: 'a3f9c2d81b7e4f6a9c0d1e2f3a4b5c6d',
    token: jwt('alice'),
  };
  const cand = {
    id: randomUUID(),
    createdAt: '2026-11-27T09:14:59.001Z',
    updatedAt: '2026-11-27T10:00:00+01:00',
    httpDate: 'Fri, 27 Nov 2026 09:00:01 GMT',
    epoch: 1795000123456,
    epochText: '1795000123456',
    etag: '00000000000000000000ffffffffffff',
    token: jwt('bob'),
  };

  it('never fails uuids, timestamps, epoch millis, hex tokens or JWTs of the same class', () => {
    const out = createComparator(compareConfig()).compare(jsonResponse(base), jsonResponse(cand), 'GET /orders/:id');
    expect(out.diffs).toEqual([]);
    expect(out.isMatch).toBe(true);
    expect(out.fields.match).toBe(Object.keys(base).length + 1);
  });

  it('still fails values of a different class or ordinary values', () => {
    const out = createComparator(compareConfig()).compare(
      jsonResponse({ id: randomUUID(), at: '2026-11-26T13:00:00Z', n: 5 }),
      jsonResponse({ id: 'not-a-uuid', at: 'yesterday', n: 6 }),
      'GET /',
    );
    expect(out.diffs.map((d) => d.path)).toEqual(['$.id', '$.at', '$.n']);
  });

  it('compares by value when value_classes is off', () => {
    const out = createComparator(compareConfig({ value_classes: false })).compare(jsonResponse(base), jsonResponse(cand), 'GET /');
    expect(out.diffs).toHaveLength(Object.keys(base).length);
  });
});
