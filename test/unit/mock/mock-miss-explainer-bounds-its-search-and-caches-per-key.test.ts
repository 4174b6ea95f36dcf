import { describe, expect, it } from 'vitest';
import { HttpMissExplainer, missKeyOf, type RecordedRequest } from '../../../src/mock/http-miss-explainer.js';
import { buildKeyOptions, parseRequest } from '../../../src/mock/http-request-key.js';

const opts = buildKeyOptions({ matchHeaders: ['x-tenant'] });
const live = (method: string, url: string, body = '', headers: string[] = []) => parseRequest({ method, url, headers, body: Buffer.from(body) });
const recorded = (i: number, method: string, url: string, body = '', headers: string[] = []): RecordedRequest => ({
  id: `ex-${i}`,
  method,
  url,
  body: Buffer.from(body),
  headers,
});

function explainerWith(records: RecordedRequest[], o: { candidates?: number; cacheSize?: number } = {}): HttpMissExplainer {
  const e = new HttpMissExplainer(opts, o);
  for (const r of records) e.add(r);
  return e;
}

describe('http miss explainer', () => {
  it('names the nearest recording and each part that differs', () => {
    const e = explainerWith([
      recorded(1, 'POST', '/charge?currency=eur', '{"amount":5,"note":"a"}', ['x-tenant', 't1']),
      recorded(2, 'GET', '/charge/status'),
      recorded(3, 'POST', '/refund', '{"amount":5}'),
    ]);
    const why = e.explain(live('POST', '/charge?currency=usd', '{"amount":6,"note":"a"}', ['x-tenant', 't2']));
    expect(why.nearest).toEqual({ id: 'ex-1', method: 'POST', url: '/charge?currency=eur' });
    expect(why.differences.map((d) => d.part)).toEqual(['query', 'body', 'headers']);
    expect(why.differences[0]).toEqual({ part: 'query', expected: ['currency=eur'], actual: ['currency=usd'] });
    expect(why.differences[1]?.actual).toEqual({ differingPaths: ['$.amount'] });
    expect(why.differences[2]).toEqual({ part: 'headers', expected: { 'x-tenant': ['t1'] }, actual: { 'x-tenant': ['t2'] } });
  });

  it('prefers the same route, then the same path template, then the same method', () => {
    const e = explainerWith([recorded(1, 'GET', '/a'), recorded(2, 'POST', '/b'), recorded(3, 'GET', '/c?x=1')]);
    expect(e.explain(live('GET', '/c?x=2')).nearest?.id).toBe('ex-3');
    const other = e.explain(live('DELETE', '/b'));
    expect(other.nearest?.id).toBe('ex-2');
    expect(other.differences.map((d) => d.part)).toEqual(['method']);
    const unknown = e.explain(live('POST', '/nowhere'));
    expect(unknown.nearest?.id).toBe('ex-2');
    expect(unknown.differences.map((d) => d.part)).toEqual(['path']);
  });

  it('says there is nothing to compare with when nothing was recorded', () => {
    expect(explainerWith([]).explain(live('GET', '/x'))).toEqual({ nearest: undefined, differences: [] });
  });

  it('compares a miss with at most the candidate cap, however many recordings share its route or none', () => {
    // UUID segments make one path template of all of them
    const uuid = (i: number) => `6f1c2b7a-0d4e-4a53-9b8f-${String(i).padStart(12, '0')}`;
    const records = Array.from({ length: 1001 }, (_, i) => recorded(i, 'GET', `/items/${uuid(i)}?view=full`));
    const e = explainerWith(records, { candidates: 8 });
    e.explain(live('GET', '/refunds/ord_1'));
    expect(e.stats()).toEqual({ explained: 1, cached: 0, compared: 8 });
    e.explain(live('GET', `/items/${uuid(5000)}?view=compact`));
    expect(e.stats().compared).toBe(16);
    // the exact path is looked at first, so the cap never hides it
    const why = e.explain(live('GET', `/items/${uuid(977)}?view=compact`));
    expect(why.nearest?.id).toBe('ex-977');
    expect(why.differences.map((d) => d.part)).toEqual(['query']);
    expect(e.stats()).toEqual({ explained: 3, cached: 0, compared: 24 });
  });

  it('computes the explanation of a repeated miss once, and again after a recording is added', () => {
    const e = explainerWith([recorded(1, 'GET', '/a?x=1')]);
    const a = e.explain(live('GET', '/a?x=2'));
    for (let i = 0; i < 500; i++) expect(e.explain(live('GET', '/a?x=2'))).toBe(a);
    expect(e.stats()).toEqual({ explained: 1, cached: 500, compared: 1 });
    e.add(recorded(2, 'GET', '/a?x=3'));
    expect(e.explain(live('GET', '/a?x=2')).nearest?.id).toBe('ex-1');
    expect(e.stats()).toEqual({ explained: 2, cached: 500, compared: 3 });
  });

  it('forgets the least recent explanation beyond the cache size', () => {
    const e = explainerWith([recorded(1, 'GET', '/a')], { cacheSize: 2 });
    for (const q of ['x=1', 'x=2', 'x=3', 'x=1']) e.explain(live('GET', `/a?${q}`));
    expect(e.stats()).toEqual({ explained: 4, cached: 0, compared: 4 });
    e.explain(live('GET', '/a?x=1'));
    expect(e.stats().cached).toBe(1);
  });

  it('keys a miss by what matching sees, and keeps long keys short', () => {
    expect(missKeyOf(live('GET', '/a?y=2&x=1'), opts)).toBe(missKeyOf(live('GET', '/a?x=1&y=2'), opts));
    expect(missKeyOf(live('GET', '/a?x=1'), opts)).not.toBe(missKeyOf(live('GET', '/a?x=2'), opts));
    expect(missKeyOf(live('GET', '/a', '', ['x-tenant', 't1']), opts)).not.toBe(missKeyOf(live('GET', '/a', '', ['x-tenant', 't2']), opts));
    const long = missKeyOf(live('GET', `/a?q=${'z'.repeat(5000)}`), opts);
    expect(long.length).toBeLessThan(64);
    expect(long).not.toBe(missKeyOf(live('GET', `/a?q=${'z'.repeat(4999)}`), opts));
  });
});
