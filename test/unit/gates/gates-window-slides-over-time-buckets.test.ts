import { describe, expect, it } from 'vitest';
import { createWindowedGateEvaluator } from '../../../src/gates/gate-evaluator.js';
import { judged, outcome } from '../../helpers/gates-fixtures.js';

describe('windowed gate evaluator', () => {
  it('forgets requests older than the window', () => {
    let now = 1_000_000;
    const e = createWindowedGateEvaluator({
      gates: { body_match_rate: '>= 0.9' },
      cutoffs: { min_requests: 0 },
      hasLatencyBaseline: false,
      windowMs: 60_000,
      bucketMs: 10_000,
      now: () => now,
    });
    for (let i = 0; i < 10; i++) e.record(judged({ outcome: outcome(false) }));
    expect(e.results()[0]).toMatchObject({ value: 0, isPassing: false });
    now += 30_000;
    for (let i = 0; i < 10; i++) e.record(judged());
    expect(e.results()[0]).toMatchObject({ value: 0.5 });
    now += 31_000;
    expect(e.counts().requests).toBe(10);
    expect(e.results()[0]).toMatchObject({ value: 1, isPassing: true });
    expect(e.verdict()).toBe('pass');
    now += 600_000;
    expect(e.counts().requests).toBe(0);
    // a slot reused after a full turn of the ring starts empty
    e.record(judged({ outcome: outcome(false) }));
    expect(e.counts()).toMatchObject({ requests: 1, mismatches: 1 });
  });
});
