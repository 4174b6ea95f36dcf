import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/metrics/metrics.js';
import { createRunMetrics, exportGates } from '../../../src/gates/run-metrics.js';

describe('gate and comparison metrics', () => {
  it('exports gate value, threshold and passing per run and gate', async () => {
    const metrics = createMetrics();
    exportGates(metrics, 'r1', [
      { gate: 'body_match_rate', expression: '>= 0.95', threshold: 0.95, value: 0.9, isPassing: false },
      { gate: 'latency_p95_delta', expression: '<= +10%', threshold: 0.1, value: undefined, isPassing: false, note: 'x' },
    ]);
    const text = await metrics.registry.metrics();
    expect(text).toContain('doppel_gate_value{run_id="r1",gate="body_match_rate"} 0.9');
    expect(text).toContain('doppel_gate_threshold{run_id="r1",gate="body_match_rate"} 0.95');
    expect(text).toContain('doppel_gate_passing{run_id="r1",gate="body_match_rate"} 0');
    expect(text).not.toContain('doppel_gate_value{run_id="r1",gate="latency_p95_delta"}');
    expect(text).toContain('doppel_gate_passing{run_id="r1",gate="latency_p95_delta"} 0');
  });

  it('counts comparisons, fields, durations and replay results with endpoint labels', async () => {
    const metrics = createMetrics();
    const m = createRunMetrics(metrics, 'r2', 'replay');
    m.recordComparison('GET /orders/:id', 'match', { match: 5, mismatch: 0, ignored: 1 });
    m.recordComparison('GET /orders/:id', 'noise', { match: 4, mismatch: 0, ignored: 2 });
    m.recordComparison('GET /orders/:id', 'mismatch', { match: 3, mismatch: 2, ignored: 0 });
    m.recordDurations('GET /orders/:id', 12, 10);
    m.recordReplayResult('GET /orders/:id', 'fail');
    const text = await metrics.registry.metrics();
    expect(text).toContain('doppel_compare_total{run_id="r2",mode="replay",endpoint="GET /orders/:id",result="noise"} 1');
    expect(text).toContain('doppel_compare_total{run_id="r2",mode="replay",endpoint="GET /orders/:id",result="mismatch"} 1');
    expect(text).toContain('doppel_compare_fields_total{run_id="r2",result="match"} 12');
    expect(text).toContain('doppel_compare_fields_total{run_id="r2",result="ignored"} 3');
    expect(text).toContain('doppel_response_duration_seconds_count{run_id="r2",side="candidate",endpoint="GET /orders/:id"} 1');
    expect(text).toContain('doppel_response_duration_seconds_sum{run_id="r2",side="baseline",endpoint="GET /orders/:id"} 0.01');
    expect(text).toContain('doppel_replay_requests_total{run_id="r2",endpoint="GET /orders/:id",result="fail"} 1');
  });
});

describe('endpoint labels', () => {
  it('folds raw paths into route templates so label cardinality stays bounded', async () => {
    const metrics = createMetrics();
    const m = createRunMetrics(metrics, 'r3', 'shadow');
    for (let i = 0; i < 100; i++) m.recordComparison(`GET /orders/${1000 + i}?page=2`, 'match', { match: 1, mismatch: 0, ignored: 0 });
    m.recordComparison('GET /orders/:id', 'match', { match: 1, mismatch: 0, ignored: 0 });
    const text = await metrics.registry.metrics();
    expect(text).toContain('doppel_compare_total{run_id="r3",mode="shadow",endpoint="GET /orders/:id",result="match"} 101');
    expect(text).not.toContain('/orders/1000');
  });
});
