import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createRunMetrics } from '../../../src/gates/run-metrics.js';
import { createMetrics, RESPONSE_DURATION_BUCKETS } from '../../../src/metrics/metrics.js';

/** The same observations through prom-client's own histogram: what the tally must read as. */
async function reference(observations: Array<[side: string, seconds: number]>): Promise<string> {
  const registry = new Registry();
  const h = new Histogram({ name: 'doppel_response_duration_seconds', help: 'x', labelNames: ['run_id', 'side', 'endpoint'] as const, buckets: [...RESPONSE_DURATION_BUCKETS], registers: [registry] });
  for (const [side, s] of observations) h.observe({ run_id: 'r1', side, endpoint: 'GET /a' }, s);
  return (await registry.getSingleMetricAsString('doppel_response_duration_seconds')).replace(/^# HELP.*\n/, '');
}

async function tallied(metrics: ReturnType<typeof createMetrics>): Promise<string> {
  return (await metrics.registry.getSingleMetricAsString('doppel_response_duration_seconds')).replace(/^# HELP.*\n/, '');
}

describe('response durations tallied on the hot path', () => {
  it('read as prom-client\'s own histogram would, bucket by bucket, on every read', async () => {
    const metrics = createMetrics();
    const m = createRunMetrics(metrics, 'r1', 'replay');
    const seen: Array<[string, number]> = [];
    // on a bound, between bounds, over the last one, zero
    const ms = [1, 2.5, 3, 0, 12, 999, 10_000, 25_000, 4];
    for (const c of ms) {
      m.recordDurations('GET /a', c, c * 2);
      seen.push(['candidate', c / 1000], ['baseline', (c * 2) / 1000]);
    }
    expect(await tallied(metrics)).toBe(await reference(seen));
    // a second read adds nothing twice; observations between reads arrive on the next one
    expect(await tallied(metrics)).toBe(await reference(seen));
    m.recordDurations('GET /a', 7, undefined);
    seen.push(['candidate', 0.007]);
    expect(await tallied(metrics)).toBe(await reference(seen));
    const json = await metrics.registry.getMetricsAsJSON();
    const count = json.find((x) => x.name === 'doppel_response_duration_seconds')?.values.find((v) => (v as { metricName?: string }).metricName === 'doppel_response_duration_seconds_count' && v.labels.side === 'candidate');
    expect(count?.value).toBe(ms.length + 1);
  });

  it('add to what was observed on the histogram directly, and start again after reset()', async () => {
    const metrics = createMetrics();
    metrics.responseDuration.observe({ run_id: 'r1', side: 'candidate', endpoint: 'GET /a' }, 0.02);
    const m = createRunMetrics(metrics, 'r1', 'replay');
    m.recordDurations('GET /a', 3, undefined);
    expect(await tallied(metrics)).toBe(await reference([['candidate', 0.02], ['candidate', 0.003]]));
    metrics.responseDuration.reset();
    m.recordDurations('GET /a', 40, undefined);
    expect(await tallied(metrics)).toBe(await reference([['candidate', 0.04]]));
  });
});
