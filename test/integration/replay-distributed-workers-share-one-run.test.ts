import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli } from '../helpers/cli.js';
import { connectTestRedis, TEST_REDIS_URL } from '../helpers/redis.js';
import { until } from '../helpers/until.js';
import { expectEachSessionJudgedOnceInOrder, expectWorkersEqualOneProcess, readSummary, startSessionTarget, STEPS, writeGates, writeSessionTraffic } from '../helpers/distributed-replay.js';
import { tempDir } from '../helpers/http.js';

const SESSIONS = 1000;
const connected = await connectTestRedis();
const raw = connected as Redis;

async function dropRun(runId: string): Promise<void> {
  const keys = await raw.keys(`{doppel:run:${runId}}:*`);
  if (keys.length > 0) await raw.del(...keys);
}

describe.skipIf(connected === undefined)('distributed replay through Redis Streams', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let traffic: string;
  let gates: string;
  const runs: string[] = [];
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('doppel-dist-'));
    traffic = join(dir, 'traffic');
    await writeSessionTraffic(traffic, SESSIONS);
    gates = await writeGates(dir);
  });
  afterAll(async () => {
    for (const r of runs) await dropRun(r);
    await raw.quit();
    await cleanup();
  });

  it('3 workers over 1,000 sessions: each session replayed once and in order, and the merged report equals a 1-worker run', async () => {
    const runId = `dist-${randomUUID()}`;
    runs.push(runId);
    await expectWorkersEqualOneProcess({ url: TEST_REDIS_URL, runId, dir, traffic, gates, sessions: SESSIONS });
  }, 300_000);

  it('kill -9 of one worker mid-run: its sessions are claimed by the others, every session is accounted for once, and re-sent ones are reported', async () => {
    const target = await startSessionTarget(2);
    try {
      const runId = `dist-kill-${randomUUID()}`;
      runs.push(runId);
      const report = join(dir, 'killed');
      const args = (n: number) => [
        'replay', '--traffic', traffic, '--target', target.url, '--gates', gates, '--report', report, '--concurrency', '12',
        '--coordinator', TEST_REDIS_URL, '--run-id', runId, '--worker-id', `k${n}`, '--claim-timeout', '1', '--log-format', 'json',
      ];
      const victim = startCli(args(1));
      const survivors = [2, 3].map((n) => runCli(args(n), { timeoutMs: 280_000 }));
      // mid-run: the victim holds leases when it dies
      await until('a third of the requests', () => target.total() >= (SESSIONS * STEPS) / 3, 200_000);
      victim.child.kill('SIGKILL');
      expect(await victim.stop()).toBe(null);
      const results = await Promise.all(survivors);
      for (const r of results) expect(r.stderr).not.toContain('internal error');
      expect(results.map((r) => r.code).sort()).toEqual([0, 1]);

      const merged = await readSummary(report);
      const d = merged.distributed as { sessions: number; resent: number; resentSessions: string[] };
      expect(d.sessions).toBe(SESSIONS);
      expect(d.resent).toBeGreaterThan(0);
      expect(d.resentSessions.length).toBe(Math.min(d.resent, 100));
      expect((merged.counts as { requests: number }).requests).toBe(SESSIONS * STEPS);
      // each exchange judged exactly once, though some were sent twice
      await expectEachSessionJudgedOnceInOrder(report, target, SESSIONS, d.resentSessions);
    } finally {
      await target.close();
    }
  }, 300_000);
});
