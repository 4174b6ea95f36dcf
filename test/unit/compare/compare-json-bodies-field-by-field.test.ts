import { describe, expect, it } from 'vitest';
import { createComparator } from '../../../src/compare/comparator.js';
import { compareConfig, jsonResponse, textResponse } from '../../helpers/compare-fixtures.js';

const order = {
  id: 42,
  status: 'paid',
  total: 19.99,
  items: [
    { sku: 'a', qty: 1, price: 9.99 },
    { sku: 'b', qty: 2, price: 5 },
  ],
  customer: { name: 'Ada', address: { city: 'London' } },
};

describe('comparator on JSON bodies', () => {
  it('matches equal bodies and counts every leaf as a matching field', () => {
    const c = createComparator(compareConfig());
    const out = c.compare(jsonResponse(order), jsonResponse(structuredClone(order)), 'GET /orders/:id');
    expect(out.isMatch).toBe(true);
    expect(out.isBodyMatch).toBe(true);
    // 3 top-level scalars + 6 item leaves + name + city, plus the content-type header
    expect(out.fields).toEqual({ match: 12, mismatch: 0, ignored: 0 });
    expect(out.diffs).toEqual([]);
  });

  it('reports a changed field with its path, expected and actual', () => {
    const c = createComparator(compareConfig());
    const changed = structuredClone(order);
    changed.items[1]!.qty = 3;
    changed.customer.address.city = 'Paris';
    const out = c.compare(jsonResponse(order), jsonResponse(changed), 'GET /orders/:id');
    expect(out.isMatch).toBe(false);
    expect(out.isStatusMatch).toBe(true);
    expect(out.diffs).toEqual([
      { path: '$.items[1].qty', kind: 'changed', expected: 2, actual: 3 },
      { path: '$.customer.address.city', kind: 'changed', expected: 'London', actual: 'Paris' },
    ]);
    expect(out.fields.mismatch).toBe(2);
  });

  it('reports missing and extra keys and type changes', () => {
    const c = createComparator(compareConfig());
    const out = c.compare(jsonResponse({ a: 1, b: 'x', c: [1] }), jsonResponse({ a: '1', c: { 0: 1 }, d: true }), 'GET /');
    expect(out.diffs).toEqual([
      { path: '$.a', kind: 'type', expected: 1, actual: '1' },
      { path: '$.b', kind: 'missing', expected: 'x' },
      { path: '$.c', kind: 'type', expected: [1], actual: { 0: 1 } },
      { path: '$.d', kind: 'extra', actual: true },
    ]);
  });

  it('does not mistake inherited object properties for present keys', () => {
    const c = createComparator(compareConfig());
    const out = c.compare(jsonResponse({ constructor: 1 }), jsonResponse({}), 'GET /');
    expect(out.diffs).toEqual([{ path: '$.constructor', kind: 'missing', expected: 1 }]);
  });

  it('reports a status difference and still diffs the body', () => {
    const c = createComparator(compareConfig());
    const out = c.compare(jsonResponse({ a: 1 }, 200), jsonResponse({ a: 2 }, 500), 'GET /');
    expect(out.isStatusMatch).toBe(false);
    expect(out.isBodyMatch).toBe(false);
    expect(out.diffs[0]).toEqual({ path: 'status', kind: 'status', expected: 200, actual: 500 });
    expect(out.diffs[1]).toMatchObject({ path: '$.a', kind: 'changed' });
  });

  it('ignores paths in the one grammar: $.a.b, $..id, $.items[*].field and header:NAME', () => {
    const c = createComparator(
      compareConfig({ ignore: ['$.meta.traceId', '$..id', '$.items[*].createdAt', 'header:x-version'], headers: ['content-type', 'x-version'] }),
    );
    const base = { id: 1, meta: { traceId: 'a', page: 1 }, items: [{ id: 7, createdAt: 'monday', name: 'x' }], nested: { deep: { id: 3 } } };
    const cand = { id: 2, meta: { traceId: 'b', page: 1 }, items: [{ id: 8, createdAt: 'tuesday', name: 'x' }], nested: { deep: { id: 4 } } };
    const out = c.compare(
      jsonResponse(base, 200, [['X-Version', '1']]),
      jsonResponse(cand, 200, [['X-Version', '2']]),
      'GET /',
    );
    expect(out.diffs).toEqual([]);
    expect(out.isMatch).toBe(true);
    expect(out.fields.ignored).toBe(6);
    const changed = c.compare(jsonResponse(base), jsonResponse({ ...cand, meta: { traceId: 'b', page: 2 } }), 'GET /');
    expect(changed.diffs).toEqual([{ path: '$.meta.page', kind: 'changed', expected: 1, actual: 2 }]);
  });

  it('applies absolute and relative numeric tolerances', () => {
    const c = createComparator(compareConfig({ tolerances: { '$.total': 0.01, '$.items[*].price': '1%' } }));
    const base = { total: 10.0, items: [{ price: 200 }, { price: 50 }] };
    expect(c.compare(jsonResponse(base), jsonResponse({ total: 10.01, items: [{ price: 201.9 }, { price: 49.6 }] }), 'GET /').isMatch).toBe(true);
    const out = c.compare(jsonResponse(base), jsonResponse({ total: 10.02, items: [{ price: 202.1 }, { price: 50 }] }), 'GET /');
    expect(out.diffs.map((d) => d.path)).toEqual(['$.total', '$.items[0].price']);
  });

  it('compares arrays under unordered paths without order, and diffs what is left', () => {
    const c = createComparator(compareConfig({ unordered: ['$.tags', '$.items'], ignore: ['$.items[*].at'] }));
    const base = { tags: ['a', 'b', 'c'], items: [{ sku: 1, at: 'x' }, { sku: 2, at: 'y' }] };
    const shuffled = { tags: ['c', 'a', 'b'], items: [{ sku: 2, at: 'p' }, { sku: 1, at: 'q' }] };
    expect(c.compare(jsonResponse(base), jsonResponse(shuffled), 'GET /').isMatch).toBe(true);
    const out = c.compare(jsonResponse(base), jsonResponse({ tags: ['c', 'z', 'a'], items: shuffled.items }), 'GET /');
    expect(out.diffs).toEqual([{ path: '$.tags[1]', kind: 'changed', expected: 'b', actual: 'z' }]);
    const ordered = createComparator(compareConfig()).compare(jsonResponse(base), jsonResponse(shuffled), 'GET /');
    expect(ordered.isMatch).toBe(false);
    const shorter = c.compare(jsonResponse(base), jsonResponse({ tags: ['b', 'a'], items: base.items }), 'GET /');
    expect(shorter.diffs).toEqual([{ path: '$.tags[2]', kind: 'missing', expected: 'c' }]);
  });

  it('checks presence only under presence paths', () => {
    const c = createComparator(compareConfig({ presence: ['$.session'] }));
    expect(c.compare(jsonResponse({ session: { a: 1 } }), jsonResponse({ session: 'other' }), 'GET /').isMatch).toBe(true);
    const out = c.compare(jsonResponse({ session: 1 }), jsonResponse({}), 'GET /');
    expect(out.diffs).toEqual([{ path: '$.session', kind: 'missing', expected: 1 }]);
  });

  it('bounds the diff list and counts what it left out', () => {
    const c = createComparator(compareConfig(), { maxDiffs: 3 });
    const a = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, i]));
    const b = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, i + 1]));
    const out = c.compare(jsonResponse(a), jsonResponse(b), 'GET /');
    expect(out.diffs).toHaveLength(3);
    expect(out.omittedDiffs).toBe(7);
    expect(out.fields.mismatch).toBe(10);
  });

  it('compares selected headers: content-type by default, volatile ones never', () => {
    const c = createComparator(compareConfig());
    const a = jsonResponse({}, 200, [['Date', 'Mon, 01 Jan 2024 00:00:00 GMT'], ['X-Request-Id', '1']]);
    const b = { ...jsonResponse({}, 200, [['Date', 'Tue, 02 Jan 2024 00:00:00 GMT'], ['X-Request-Id', '2']]) };
    expect(c.compare(a, b, 'GET /').isMatch).toBe(true);
    b.headers = [['content-type', 'application/JSON;charset=UTF-8']];
    expect(c.compare(a, b, 'GET /').isMatch).toBe(true);
    b.headers = [['content-type', 'text/html']];
    const out = c.compare(a, b, 'GET /');
    expect(out.diffs[0]).toEqual({ path: 'header:content-type', kind: 'header', expected: 'application/json; charset=utf-8', actual: 'text/html' });
    const all = createComparator(compareConfig({ headers: ['*'] }));
    const withExtra = jsonResponse({}, 200, [['X-Feature', 'on'], ['Date', 'x']]);
    const diffs = all.compare(jsonResponse({}, 200, [['Date', 'y']]), withExtra, 'GET /').diffs;
    expect(diffs).toEqual([{ path: 'header:x-feature', kind: 'header', actual: 'on' }]);
  });
});

describe('comparator on bodies that are not JSON', () => {
  it('flags a body that claims JSON but does not parse, and compares it as bytes', () => {
    const c = createComparator(compareConfig());
    const good = jsonResponse({ ok: true });
    const broken = jsonResponse('{"ok": tru');
    const out = c.compare(good, broken, 'GET /');
    expect(out.isMatch).toBe(false);
    expect(out.flags).toEqual(['candidate-not-json']);
    expect(out.diffs).toEqual([{ path: '$', kind: 'not-json', expected: '{"ok":true}', actual: '{"ok": tru' }]);
    const both = c.compare(broken, jsonResponse('{"ok": tru'), 'GET /');
    expect(both.isMatch).toBe(true);
    expect(both.flags).toEqual(['baseline-not-json', 'candidate-not-json']);
  });

  it('compares text bodies by bytes', () => {
    const c = createComparator(compareConfig());
    expect(c.compare(textResponse('hello'), textResponse('hello'), 'GET /').isMatch).toBe(true);
    const out = c.compare(textResponse('hello'), textResponse('hullo'), 'GET /');
    expect(out.diffs).toEqual([{ path: '$', kind: 'body-bytes', expected: 'hello', actual: 'hullo' }]);
  });

  it('compares binary bodies and bodies beyond max_body_bytes by sha256 digest', () => {
    const c = createComparator(compareConfig({ max_body_bytes: 16 }));
    const big = { blob: 'x'.repeat(64) };
    const out = c.compare(jsonResponse(big), jsonResponse({ blob: 'y'.repeat(64) }), 'GET /');
    expect(out.flags).toEqual(['body-over-limit']);
    expect(out.diffs[0]?.kind).toBe('body-bytes');
    expect(String(out.diffs[0]?.expected)).toMatch(/^<\d+ bytes, sha256:[0-9a-f]{64}>$/);
    expect(c.compare(jsonResponse(big), jsonResponse(big), 'GET /').isMatch).toBe(true);
    const bin = createComparator(compareConfig());
    const png = bin.compare(
      textResponse(Buffer.from([0x89, 0x50, 0xff, 0xfe]), 'image/png'),
      textResponse(Buffer.from([0x89, 0x50, 0xff, 0xfd]), 'image/png'),
      'GET /logo',
    );
    expect(String(png.diffs[0]?.actual)).toMatch(/^<4 bytes, sha256:/);
  });

  it('treats two empty bodies as equal', () => {
    const c = createComparator(compareConfig());
    const out = c.compare({ status: 204, headers: [], body: Buffer.alloc(0) }, { status: 204, headers: [], body: Buffer.alloc(0) }, 'DELETE /x');
    expect(out.isMatch).toBe(true);
  });
});

describe('comparator on large unordered arrays', () => {
  it('pairs thousands of shuffled elements in linear time and diffs the leftovers', () => {
    const c = createComparator(compareConfig({ unordered: ['$.rows'] }));
    const rows = Array.from({ length: 2000 }, (_, i) => ({ id: i, name: `row ${i}` }));
    const shuffled = [...rows].reverse();
    expect(c.compare(jsonResponse({ rows }), jsonResponse({ rows: shuffled }), 'GET /').isMatch).toBe(true);
    const changed = shuffled.map((r) => (r.id === 5 ? { ...r, name: 'renamed' } : r));
    const out = c.compare(jsonResponse({ rows }), jsonResponse({ rows: changed }), 'GET /');
    expect(out.diffs).toEqual([{ path: '$.rows[5].name', kind: 'changed', expected: 'row 5', actual: 'renamed' }]);
  });
});
