import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import pino from 'pino';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/core/clock.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { createMemoryCoordinator } from '../../src/replay/coordinate/ipc-coordinator.js';
import { MemoryRun } from '../../src/replay/coordinate/memory-run.js';
import { runReplay, type ReplayResult } from '../../src/replay/run-replay.js';
import { startCli } from '../helpers/cli.js';
import { startSessionTarget, STEPS, writeSessionTraffic } from '../helpers/distributed-replay.js';
import { tempDir } from '../helpers/http.js';
import { connectTestRedis, TEST_REDIS_URL } from '../helpers/redis.js';
import { until } from '../helpers/until.js';

const SESSIONS = 450;
const REQUESTS = SESSIONS * STEPS;
/** the whole run's rate: alone, a worker needs about 3 s for the traffic */
const RATE = 300;
const CONCURRENCY = 8;

const connected = await connectTestRedis();

describe('--rate and --concurrency are split over the live workers, and split again when one joins or is lost', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let traffic: string;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('doppel-share-'));
    traffic = join(dir, 'traffic');
    await writeSessionTraffic(traffic, SESSIONS);
  });
  afterAll(async () => {
    await cleanup();
  });

  it('in-process run: a second worker joining halves the first one\'s share, and its loss gives it back', async () => {
    const target = await startSessionTarget();
    const run = new MemoryRun({ claimTimeoutMs: 1000 });
    let isW2Dead = false;
    // the second worker's process, as the run sees it: once dead, nothing it sends arrives
    const w2Run = { call: (c: Parameters<MemoryRun['call']>[0]) => {
      if (isW2Dead) throw new Error('worker process gone');
      return run.call(c);
    } } as MemoryRun;
    const cfg = parseConfig('', 'share.yaml', {});
    const replay = (coordinator: ReturnType<typeof createMemoryCoordinator>, signal?: AbortSignal): Promise<ReplayResult> =>
      runReplay(
        {
          replay: { ...cfg.replay, traffic: [traffic], target: target.url, rate: RATE, max_in_flight: CONCURRENCY },
          compare: cfg.compare,
          gates: { status_pass_rate: '>= 0.99' },
          cutoffs: cfg.cutoffs,
          vars: {},
          coordination: { coordinator: coordinator, pollMs: 50 },
          ...(signal === undefined ? {} : { signal }),
        },
        { log: pino({ level: 'silent' }), metrics: createMetrics(), clock: systemClock },
      );
    try {
      const first = replay(createMemoryCoordinator(run, 'w1', 1000));
      await until('a quarter of the requests', () => target.total() >= REQUESTS / 4, 30_000);
      const stop2 = new AbortController();
      const second = replay(createMemoryCoordinator(w2Run, 'w2', 1000), stop2.signal).catch((err: unknown) => err);
      await until('the second worker sending', () => target.total() >= REQUESTS / 2, 30_000);
      // kill -9 as the parent sees it: the process is gone and its leases go back at once
      isW2Dead = true;
      stop2.abort();
      run.lost('w2');
      const r1 = await first;
      await second;

      const shares = r1.shard?.shares ?? [];
      expect(shares[0]).toMatchObject({ liveWorkers: 1, rate: RATE, concurrency: CONCURRENCY });
      const halved = shares.findIndex((s) => s.liveWorkers === 2);
      expect(halved, JSON.stringify(shares)).toBeGreaterThan(0);
      expect(shares[halved]).toMatchObject({ rate: RATE / 2, concurrency: CONCURRENCY / 2 });
      const back = shares.slice(halved + 1).find((s) => s.liveWorkers === 1);
      expect(back, JSON.stringify(shares)).toMatchObject({ rate: RATE, concurrency: CONCURRENCY });
      expect(back!.atMs).toBeGreaterThan(shares[halved]!.atMs);
      // every session was played to its end by one worker or the other
      expect(target.steps.size).toBe(SESSIONS);
      for (const [session, steps] of target.steps) expect(steps.slice(-STEPS), session).toEqual([0, 1]);
    } finally {
      await target.close();
    }
  }, 120_000);

  it.skipIf(connected === undefined)('Redis run: a worker joining late halves the first one\'s share and its kill -9 returns it', async () => {
    const target = await startSessionTarget();
    const runId = `share-${randomUUID()}`;
    const raw = connected as Redis;
    // slower than in-process: the second worker is a process that takes seconds to start
    const rate = RATE / 3;
    const args = (n: number) => [
      'replay', '--traffic', traffic, '--target', target.url, '--rate', String(rate), '--coordinator', TEST_REDIS_URL, '--run-id', runId,
      '--worker-id', `w${n}`, '--claim-timeout', '1', '--log-format', 'json', '--log-level', 'info',
    ];
    try {
      const w1 = startCli(args(1));
      await until('a tenth of the requests', () => target.total() >= REQUESTS / 10, 60_000);
      const w2 = startCli(args(2));
      const halved = await w1.waitFor('share of the run recomputed', (l) => l.liveWorkers === 2);
      expect(halved.rate).toBe(rate / 2);
      await w2.waitFor('replay started');
      await until('more requests', () => target.total() >= REQUESTS / 2, 60_000);
      w2.child.kill('SIGKILL');
      expect(await w2.stop()).toBe(null);
      // its heartbeat lapses half a claim timeout later; the first worker takes the whole run again
      const back = await w1.waitFor('share of the run recomputed', (l) => l.liveWorkers === 1);
      expect(back.rate).toBe(rate);
      await until('the first worker done', () => w1.child.exitCode !== null, 60_000);
      // it wrote the merged verdict: 0 or 1 (every 17th session answers a planted change), never aborted
      expect([0, 1]).toContain(await w1.stop());
      expect(target.steps.size).toBe(SESSIONS);
      for (const [session, steps] of target.steps) expect(steps.slice(-STEPS), session).toEqual([0, 1]);
    } finally {
      await target.close();
      const keys = await raw.keys(`{doppel:run:${runId}}:*`);
      if (keys.length > 0) await raw.del(...keys);
      await raw.quit();
    }
  }, 120_000);
});
