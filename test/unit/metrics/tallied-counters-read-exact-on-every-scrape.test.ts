import { describe, expect, it } from 'vitest';
import { createRunMetrics } from '../../../src/gates/run-metrics.js';
import { createMetrics } from '../../../src/metrics/metrics.js';

const valueOf = async (metrics: ReturnType<typeof createMetrics>, name: string, labels: Record<string, string>): Promise<number | undefined> => {
  const m = metrics.registry.getSingleMetric(name);
  const got = await m?.get();
  return got?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;
};

describe('counters tallied on the hot path', () => {
  it('read exact on every scrape, added in once, whichever way the registry is read', async () => {
    const metrics = createMetrics();
    const m = createRunMetrics(metrics, 'r1', 'replay');
    for (let i = 0; i < 5; i++) {
      m.recordComparison('GET /a', 'match', { match: 3, mismatch: 0, ignored: 1 });
      m.recordReplayResult('GET /a', 'pass');
    }
    m.recordComparison('GET /a', 'mismatch', { match: 1, mismatch: 2, ignored: 0 });
    m.recordReplayResult('GET /a', 'fail');

    const text = await metrics.registry.metrics();
    expect(text).toContain('doppel_compare_total{run_id="r1",mode="replay",endpoint="GET /a",result="match"} 5');
    expect(text).toContain('doppel_compare_total{run_id="r1",mode="replay",endpoint="GET /a",result="mismatch"} 1');
    expect(text).toContain('doppel_replay_requests_total{run_id="r1",endpoint="GET /a",result="pass"} 5');
    expect(text).toContain('doppel_compare_fields_total{run_id="r1",result="match"} 16');
    expect(text).toContain('doppel_compare_fields_total{run_id="r1",result="mismatch"} 2');

    // a second read adds nothing twice; counts between reads arrive on the next one
    expect(await metrics.registry.metrics()).toContain('doppel_replay_requests_total{run_id="r1",endpoint="GET /a",result="pass"} 5');
    m.recordReplayResult('GET /a', 'pass');
    expect(await valueOf(metrics, 'doppel_replay_requests_total', { result: 'pass' })).toBe(6);
    m.recordComparison('GET /a', 'match', { match: 4, mismatch: 0, ignored: 0 });
    const json = await metrics.registry.getMetricsAsJSON();
    const fields = json.find((x) => x.name === 'doppel_compare_fields_total');
    expect(fields?.values.find((v) => v.labels.result === 'match')?.value).toBe(20);
  });

  it('reach any counter made in metrics.ts, added in when that counter is read, whichever is read first', async () => {
    const metrics = createMetrics();
    const served = metrics.tallies.of(metrics.mockRequests, { service: 'db', protocol: 'pg', result: 'matched' });
    served.n += 3;
    // doppel_mock_requests_total comes before the replay counters in a scrape: it adds its own tally in itself
    expect(await metrics.registry.metrics()).toContain('doppel_mock_requests_total{service="db",protocol="pg",result="matched"} 3');
    served.n++;
    expect(await valueOf(metrics, 'doppel_mock_requests_total', { result: 'matched' })).toBe(4);
  });
});
