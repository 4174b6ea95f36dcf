import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { runReplay } from '../../src/replay/run-replay.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import type { Clock } from '../../src/core/clock.js';
import { parseConfig } from '../../src/config/load.js';
import { recordTraffic, startService, tempDir, type Service } from '../helpers/replay-fixtures.js';

const log = pino({ level: 'silent' });

describe('recorded gaps are divided by the time scale and capped by max_delay', () => {
  let traffic: Awaited<ReturnType<typeof tempDir>>;
  let baseline: Service;
  // one session: gaps of 400 ms, 400 ms, then a 60 s pause, then 400 ms
  const offsets = [0, 400, 800, 60_800, 61_200];
  beforeAll(async () => {
    traffic = await tempDir('doppel-replay-');
    baseline = await startService();
    await recordTraffic(
      baseline,
      traffic.path,
      offsets.map((atMs, i) => ({ method: 'GET', url: `/users/${i + 1}`, session: 'timed', atMs })),
    );
  });
  afterAll(async () => {
    await baseline.close();
    await traffic.cleanup();
  });

  it('sends each request exactly at its scaled, capped due time, in order', { timeout: 30_000 }, async () => {
    // 400 ms / 4 = 100 ms; the 60 s pause / 4 = 15 s is capped to 300 ms.
    const dues = [0, 100, 200, 500, 600];
    // The scheduler's clock stands still until a request arrives, then moves
    // to the moment the next one is due. A due time later than expected never
    // comes (the test times out); an earlier one shows as lag at its send.
    let now = 0;
    const clock: Clock = { now: () => Date.now(), monotonic: () => now };
    const candidate = await startService({
      onRequest: () => {
        now = dues[candidate.seen.length] ?? now;
      },
    });
    try {
      const cfg = parseConfig('', 'test.yaml', {});
      const res = await runReplay(
        {
          replay: { ...cfg.replay, traffic: [traffic.path], target: candidate.url, time_scale: 4, max_delay_ms: 300 },
          compare: cfg.compare,
          gates: {},
          cutoffs: cfg.cutoffs,
          vars: {},
        },
        { log, metrics: createMetrics(), clock },
      );
      expect(res.counts.passed).toBe(5);
      expect(candidate.seen.map((r) => r.url)).toEqual(['/users/1', '/users/2', '/users/3', '/users/4', '/users/5']);
      // Every send happened at the clock reading it was due at, none after.
      expect(res.schedule.lagMaxMs).toBe(0);
      expect(now).toBe(600);
    } finally {
      await candidate.close();
    }
  });
});
