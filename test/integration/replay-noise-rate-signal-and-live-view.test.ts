import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import pino from 'pino';
import { request } from 'undici';
import { runReplay, type ReplayOptions } from '../../src/replay/run-replay.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { systemClock } from '../../src/core/clock.js';
import { parseConfig } from '../../src/config/load.js';
import { createDaemon } from '../../src/daemon.js';
import { createReplayRunsProvider } from '../../src/admin/runs-provider.js';
import { readRuntimeEnv } from '../../src/config/env.js';
import { recordTraffic, startService, tempDir, type PlannedRequest, type Service } from '../helpers/replay-fixtures.js';

const log = pino({ level: 'silent' });

function options(traffic: string, target: string, yaml: string, extra: Partial<ReplayOptions['replay']> = {}): ReplayOptions {
  const cfg = parseConfig(yaml, 't.yaml', {});
  return {
    replay: { ...cfg.replay, traffic: [traffic], target, time_scale: 1000, ...extra },
    compare: cfg.compare,
    gates: cfg.quality_gates,
    cutoffs: cfg.cutoffs,
    vars: {},
  };
}

describe('noise learning, open-model rate, stop signal and the live run view', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let recorded: Service;
  beforeAll(async () => {
    dir = await tempDir('doppel-replay-misc-');
    recorded = await startService();
    const plan: PlannedRequest[] = [];
    for (let i = 0; i < 30; i++) plan.push({ method: 'GET', url: '/random', session: `r${i}` });
    await recordTraffic(recorded, dir.path, plan);
  });
  afterAll(async () => {
    await recorded.close();
    await dir.cleanup();
  });

  it('learns a field that disagrees with itself as noise, with no ignore rule', async () => {
    const candidate = await startService();
    try {
      const noLearning = await runReplay(options(dir.path, candidate.url, 'quality_gates: { body_match_rate: ">= 0.99" }'), {
        log, metrics: createMetrics(), clock: systemClock,
      });
      expect(noLearning.exitCode).toBe(1);
      const before = candidate.seen.length;
      const learned = await runReplay(options(dir.path, candidate.url, 'compare: { learn_noise: 5 }\nquality_gates: { body_match_rate: ">= 0.99" }'), {
        log, metrics: createMetrics(), clock: systemClock,
      });
      expect(learned.counts.noiseSamples).toBe(5);
      // five requests went twice
      expect(candidate.seen.length - before).toBe(35);
      expect(learned.exitCode).toBe(0);
    } finally {
      await candidate.close();
    }
  });

  it('sends at an open-model rate and reports the achieved rate', async () => {
    const candidate = await startService();
    try {
      const res = await runReplay(options(dir.path, candidate.url, '', { rate: 200 }), { log, metrics: createMetrics(), clock: systemClock });
      expect(res.counts.sent).toBe(30);
      expect(res.targetRate).toBe(200);
      expect(res.rateShortfall).toBeGreaterThanOrEqual(0);
      // 30 requests at 200 rps are scheduled over 145 ms: never faster than the schedule
      expect(res.achievedRate).toBeLessThanOrEqual(30 / 0.145 + 1);
    } finally {
      await candidate.close();
    }
  });

  it('stops on the signal, serves the live run on /api/runs/:id meanwhile, and ends aborted (exit 3)', async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    let arrived = 0;
    const stuck = createServer((_req, res) => {
      arrived++;
      void held.then(() => res.end('{}'));
    });
    await new Promise<void>((r) => stuck.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(stuck.address() as { port: number }).port}`;
    const cfg = parseConfig('admin: { listen: "127.0.0.1:0" }', 't.yaml', {});
    const daemon = createDaemon({ config: cfg, runtime: readRuntimeEnv({}), logStream: { write: () => true } as never });
    const runs = createReplayRunsProvider();
    daemon.providers.runs.push(runs);
    const admin = await daemon.startAdmin();
    const ac = new AbortController();
    try {
      const done = runReplay({ ...options(dir.path, url, '', { concurrency: 2, run_id: 'run-live' }), signal: ac.signal }, {
        log, metrics: daemon.metrics, clock: systemClock, observe: (r) => runs.add(r),
      });
      while (arrived < 2) await new Promise((r) => setTimeout(r, 10));
      const list = (await (await request(`${admin.url}/api/runs`)).body.json()) as { runs: Array<{ id: string; status: string }> };
      expect(list.runs).toEqual([expect.objectContaining({ id: 'run-live', status: 'running' })]);
      const one = (await (await request(`${admin.url}/api/runs/run-live`)).body.json()) as Record<string, unknown>;
      expect(one).toHaveProperty('gates');
      expect(one).toHaveProperty('diffSamples');
      ac.abort('SIGINT');
      const res = await done;
      expect(res.verdict).toBe('aborted');
      expect(res.exitCode).toBe(3);
      expect(res.abortReason).toContain('interrupted');
      expect(res.counts.sent).toBeLessThan(30);
      const after = (await (await request(`${admin.url}/api/runs/run-live`)).body.json()) as { status: string };
      expect(after.status).toBe('aborted');
    } finally {
      release();
      await daemon.close();
      stuck.closeAllConnections();
      await new Promise<void>((r) => stuck.close(() => r()));
    }
  });
});
