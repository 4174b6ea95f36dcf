import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { runReplay, type ReplayOptions } from '../../src/replay/run-replay.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { systemClock } from '../../src/core/clock.js';
import { parseConfig } from '../../src/config/load.js';
import type { ReplayRun } from '../../src/replay/replay-run.js';
import { recordTraffic, standardPlan, startService, tempDir, type Service } from '../helpers/replay-fixtures.js';

const log = pino({ level: 'silent' });

function optionsFor(traffic: string, target: string, yaml = ''): ReplayOptions {
  const cfg = parseConfig(yaml, 'test.yaml', {});
  return {
    replay: { ...cfg.replay, traffic: [traffic], target, time_scale: 1000 },
    compare: cfg.compare,
    gates: { status_pass_rate: '>= 0.99', body_match_rate: '>= 0.99', error_rate: '<= 0' },
    cutoffs: cfg.cutoffs,
    vars: {},
  };
}

describe('replay judges a candidate against recorded responses', () => {
  let traffic: Awaited<ReturnType<typeof tempDir>>;
  let baseline: Service;
  beforeAll(async () => {
    traffic = await tempDir('doppel-replay-');
    baseline = await startService();
    await recordTraffic(baseline, traffic.path, standardPlan());
  });
  afterAll(async () => {
    await baseline.close();
    await traffic.cleanup();
  });

  it('passes an identical build whose answers carry fresh timestamps and uuids, with no ignore rules', async () => {
    const candidate = await startService();
    try {
      const metrics = createMetrics();
      const res = await runReplay(optionsFor(traffic.path, candidate.url), { log, metrics, clock: systemClock });
      expect(res.counts).toMatchObject({ sent: 60, passed: 60, failed: 0, errors: 0 });
      expect(res.verdict).toBe('pass');
      expect(res.exitCode).toBe(0);
      // the outbound exchange in the traffic is not replayed
      expect(candidate.seen).toHaveLength(60);
      const text = await metrics.registry.metrics();
      expect(text).toMatch(/doppel_replay_requests_total\{run_id="[^"]+",endpoint="GET \/orders\/:id",result="pass"\} 20/);
      expect(text).toMatch(/doppel_gate_passing\{run_id="[^"]+",gate="body_match_rate"\} 1/);
    } finally {
      await candidate.close();
    }
  });

  it('catches exactly the changed field and the changed status', async () => {
    const candidate = await startService({ changeTotal: true, breakUsers: true, slowMs: 30 });
    let live: ReplayRun | undefined;
    try {
      const res = await runReplay(optionsFor(traffic.path, candidate.url), {
        log,
        metrics: createMetrics(),
        clock: systemClock,
        observe: (r) => (live = r),
      });
      expect(res.verdict).toBe('fail');
      expect(res.exitCode).toBe(1);
      const byGate = Object.fromEntries(res.gates.map((g) => [g.gate, g.isPassing]));
      expect(byGate).toEqual({ status_pass_rate: false, body_match_rate: false, error_rate: true });
      const eps = Object.fromEntries(live!.endpoints);
      expect(eps['GET /orders/:id']).toMatchObject({ sent: 20, failed: 20 });
      expect(eps['GET /users/:id']).toMatchObject({ sent: 20, failed: 20 });
      expect(eps['GET /slow']).toMatchObject({ sent: 20, passed: 20, failed: 0 });
      const paths = new Set(live!.recentDiffs.flatMap((d) => d.diffs.map((x) => `${d.endpoint} ${x.path}`)));
      expect([...paths].filter((p) => p.startsWith('GET /orders/:id'))).toEqual(['GET /orders/:id $.total']);
      expect([...paths].some((p) => p === 'GET /users/:id status')).toBe(true);
    } finally {
      await candidate.close();
    }
  });
});
