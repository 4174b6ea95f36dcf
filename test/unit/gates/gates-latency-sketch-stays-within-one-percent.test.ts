import { describe, expect, it } from 'vitest';
import { createLatencySketch, SKETCH_RELATIVE_ERROR } from '../../../src/gates/latency-sketch.js';

describe('latency sketch', () => {
  it('answers quantiles within its relative error and merges by addition', () => {
    const values: number[] = [];
    let x = 7;
    for (let i = 0; i < 20_000; i++) {
      x = (x * 48271) % 2147483647;
      values.push(0.05 + (x / 2147483647) ** 3 * 5000);
    }
    const a = createLatencySketch();
    const b = createLatencySketch();
    values.forEach((v, i) => (i % 2 ? a : b).add(v));
    a.merge(b);
    const sorted = [...values].sort((p, q) => p - q);
    for (const q of [0.5, 0.9, 0.95, 0.99]) {
      const exact = sorted[Math.floor(q * (sorted.length - 1))]!;
      expect(Math.abs(a.quantile(q)! - exact) / exact).toBeLessThanOrEqual(SKETCH_RELATIVE_ERROR + 1e-9);
    }
    expect(a.count).toBe(20_000);
    a.reset();
    expect(a.quantile(0.5)).toBeUndefined();
  });

  it('reads many quantiles in one pass, each equal to its single read', () => {
    const s = createLatencySketch();
    expect(s.quantiles([0, 0.5, 1])).toBeUndefined();
    for (const v of [0.0004, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 2e7]) s.add(v);
    const qs = [0, 0.01, 0.1, 0.25, 0.5, 0.5, 0.75, 0.9, 0.99, 1];
    expect(s.quantiles(qs)).toEqual(qs.map((q) => s.quantile(q)));
  });
});
