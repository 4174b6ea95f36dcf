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
    expect(c.wantsSample('GET /a', 'e9')).toBe(false);
    expect(c.wantsSample('GET /a', 'a0')).toBe(true);
  });

  it('keeps the smallest exchange ids whatever the order, so collectors of parts merge into the collector of the whole', () => {
    const outcome = (path: string) => ({
      isMatch: false,
      isStatusMatch: true,
      isBodyMatch: false,
      fields: { match: 1, mismatch: 1, ignored: 0 },
      diffs: [{ path, kind: 'changed' as const, expected: 1, actual: 2 }],
      flags: [],
    });
    const subjects = Array.from({ length: 60 }, (_, i) => ({
      exchangeId: `e${String(i).padStart(3, '0')}`,
      endpoint: `GET /r${i % 7}`,
      baselineStatus: 200,
      candidateStatus: 500,
      outcome: outcome(`$.f${i % 4}`),
    }));
    const whole = createDiffCollector({ maxSamples: 10, maxSamplesPerEndpoint: 2 });
    for (const s of subjects) whole.add(s, { baseline: s.exchangeId });
    // three parts, each seen in reverse order
    const parts = [0, 1, 2].map(() => createDiffCollector({ maxSamples: 10, maxSamplesPerEndpoint: 2 }));
    for (let i = subjects.length - 1; i >= 0; i--) parts[i % 3]!.add(subjects[i]!, { baseline: subjects[i]!.exchangeId });
    const merged = createDiffCollector({ maxSamples: 10, maxSamplesPerEndpoint: 2 });
    for (const p of parts) merged.absorb(JSON.parse(JSON.stringify(p.state())));
    expect(merged.samples()).toEqual(whole.samples());
    expect(merged.topDiffs()).toEqual(whole.topDiffs());
    expect(whole.samples().map((s) => s.exchangeId)).toEqual(['e000', 'e001', 'e002', 'e003', 'e004', 'e005', 'e006', 'e007', 'e008', 'e009']);
  });
});
