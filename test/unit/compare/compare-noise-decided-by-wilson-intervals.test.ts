import { describe, expect, it } from 'vitest';
import { createNoiseLearner, isRegression, normalQuantile, wilsonInterval } from '../../../src/compare/noise.js';
import type { CompareOutcome, FieldDiff } from '../../../src/compare/types.js';

function outcomeWith(diffs: FieldDiff[], match = 10): CompareOutcome {
  return {
    isMatch: diffs.length === 0,
    isStatusMatch: !diffs.some((d) => d.kind === 'status'),
    isBodyMatch: !diffs.some((d) => d.path.startsWith('$')),
    fields: { match, mismatch: diffs.length, ignored: 0 },
    diffs,
    flags: [],
  };
}
const changed = (path: string, expected: unknown = 1, actual: unknown = 2): FieldDiff => ({ path, kind: 'changed', expected, actual });

describe('Wilson score intervals', () => {
  it('matches published values', () => {
    expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 5);
    expect(normalQuantile(0.005)).toBeCloseTo(-2.575829, 5);
    const zero = wilsonInterval(0, 10, 1.959964);
    expect(zero.low).toBe(0);
    expect(zero.high).toBeCloseTo(0.2775, 4);
    const half = wilsonInterval(5, 10, 1.959964);
    expect(half.low).toBeCloseTo(0.2366, 4);
    expect(half.high).toBeCloseTo(0.7634, 4);
  });

  it('calls a regression only when the candidate rate is significantly above the self rate', () => {
    expect(isRegression(3, 10, 3, 10, 0.95)).toBe(false);
    expect(isRegression(3, 10, 20, 20, 0.95)).toBe(true);
    // the same counts can be noise at 95% and a regression at 50% confidence: not a fixed ratio
    expect(isRegression(1, 10, 6, 20, 0.95)).toBe(false);
    expect(isRegression(1, 10, 6, 20, 0.5)).toBe(true);
  });
});

describe('noise learner', () => {
  it('learns paths that disagree with themselves, with evidence', () => {
    const n = createNoiseLearner({ samplesPerEndpoint: 10, confidence: 0.95 });
    expect(n.wantsSample('GET /a')).toBe(true);
    for (let i = 0; i < 10; i++) {
      n.observe('GET /a', outcomeWith(i < 4 ? [changed(`$.items[${i}].cacheAge`, i, i + 1), changed('$.items[0].cacheAge')] : []));
    }
    expect(n.wantsSample('GET /a')).toBe(false);
    expect(n.isNoise('GET /a', '$.items[7].cacheAge')).toBe(true);
    expect(n.isNoise('GET /a', '$.items[*].cacheAge')).toBe(true);
    expect(n.isNoise('GET /a', '$.total')).toBe(false);
    expect(n.isNoise('GET /b', '$.items[7].cacheAge')).toBe(false);
    const [learned] = n.learned();
    expect(learned).toMatchObject({ endpoint: 'GET /a', path: '$.items[*].cacheAge', selfSamples: 10, selfMismatches: 4, selfRate: 0.4, decision: 'noise' });
    expect(learned!.samples).toHaveLength(3);
    expect(learned!.samples[0]).toEqual({ expected: 0, actual: 1 });
  });

  it('turns a comparison whose only differences are noise into a noise result counted as a match', () => {
    const n = createNoiseLearner({ samplesPerEndpoint: 10, confidence: 0.95 });
    for (let i = 0; i < 10; i++) n.observe('GET /a', outcomeWith(i % 2 ? [changed('$.servedBy')] : []));
    const judged = n.judge('GET /a', outcomeWith([changed('$.servedBy')]));
    expect(judged.result).toBe('noise');
    expect(judged.outcome).toMatchObject({ isMatch: true, isBodyMatch: true, diffs: [], fields: { match: 10, mismatch: 0, ignored: 1 } });
    const mixed = n.judge('GET /a', outcomeWith([changed('$.servedBy'), changed('$.total')]));
    expect(mixed.result).toBe('mismatch');
    expect(mixed.outcome.diffs.map((d) => d.path)).toEqual(['$.total']);
    expect(mixed.outcome.fields).toEqual({ match: 10, mismatch: 1, ignored: 1 });
    expect(n.judge('GET /a', outcomeWith([])).result).toBe('match');
  });

  it('stops excusing a noisy path once the candidate disagrees there significantly more often', () => {
    const n = createNoiseLearner({ samplesPerEndpoint: 20, confidence: 0.95 });
    for (let i = 0; i < 20; i++) n.observe('GET /a', outcomeWith(i < 2 ? [changed('$.price')] : []));
    expect(n.judge('GET /a', outcomeWith([changed('$.price')])).result).toBe('noise');
    let last = '';
    for (let i = 0; i < 30; i++) last = n.judge('GET /a', outcomeWith([changed('$.price')])).result;
    expect(last).toBe('mismatch');
    expect(n.isNoise('GET /a', '$.price')).toBe(false);
    expect(n.learned()[0]).toMatchObject({ path: '$.price', decision: 'regression', candidateMismatches: 31, candidateSamples: 31 });
  });

  it('never excuses a comparison whose diff list was cut short', () => {
    const n = createNoiseLearner({ samplesPerEndpoint: 2, confidence: 0.95 });
    n.observe('GET /a', outcomeWith([changed('$.t')]));
    n.observe('GET /a', outcomeWith([changed('$.t')]));
    const o = { ...outcomeWith([changed('$.t')]), omittedDiffs: 4 };
    expect(n.judge('GET /a', o).result).toBe('mismatch');
  });
});
