import { describe, expect, it } from 'vitest';
import { createDiffCollector } from '../../../src/report/diff-collector.js';

describe('diff collector', () => {
  it('counts differing paths per endpoint and keeps a bounded set of samples', () => {
    const c = createDiffCollector({ maxSamplesPerEndpoint: 2 });
    const outcome = (path: string) => ({
      isMatch: false,
      isStatusMatch: true,
      isBodyMatch: false,
      fields: { match: 1, mismatch: 1, ignored: 0 },
      diffs: [{ path, kind: 'changed' as const, expected: 1, actual: 2 }],
      flags: [],
    });
    for (let i = 0; i < 5; i++) c.add({ exchangeId: `e${i}`, endpoint: 'GET /a', baselineStatus: 200, candidateStatus: 200, outcome: outcome(`$.items[${i}].price`) }, { baseline: Buffer.from('{"a":1}') });
    c.add({ exchangeId: 'z', endpoint: 'GET /b', baselineStatus: 200, candidateStatus: 200, outcome: outcome('$.x') });
    expect(c.topDiffs()).toEqual([
      { endpoint: 'GET /a', path: '$.items[*].price', kind: 'changed', count: 5, example: { exchangeId: 'e0', expected: 1, actual: 2 } },
      { endpoint: 'GET /b', path: '$.x', kind: 'changed', count: 1, example: { exchangeId: 'z', expected: 1, actual: 2 } },
    ]);
    expect(c.samples().map((s) => s.exchangeId)).toEqual(['e0', 'e1', 'z']);
    expect(c.samples()[0]!.baselineBody).toBe('{"a":1}');
    expect(c.wantsSample('GET /a')).toBe(false);
  });
});
