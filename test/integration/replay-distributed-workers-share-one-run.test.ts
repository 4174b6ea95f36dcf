import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli } from '../helpers/cli.js';
import { connectTestRedis, TEST_REDIS_URL } from '../helpers/redis.js';
import { until } from '../helpers/until.js';
import { comparable, readLines, readSummary, startSessionTarget, STEPS, writeGates, writeSessionTraffic } from './distributed-replay-fixtures.js';
import { tempDir } from './http-test-helpers.js';

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
    const target = await startSessionTarget();
    try {
      const single = await runCli(['replay', '--traffic', traffic, '--target', target.url, '--gates', gates, '--report', join(dir, 'single'), '--concurrency', '12'], { timeoutMs: 280_000 });
      expect(single.stderr).not.toContain('internal error');
      expect(single.code).toBe(1);
      target.steps.clear();

      const runId = `dist-${randomUUID()}`;
      runs.push(runId);
      const report = join(dir, 'merged');
      const workers = [1, 2, 3].map((n) =>
        runCli(
          ['replay', '--traffic', traffic, '--target', target.url, '--gates', gates, '--report', report, '--concurrency', '12', '--coordinator', TEST_REDIS_URL, '--run-id', runId, '--worker-id', `w${n}`],
          { timeoutMs: 280_000 },
        ),
      );
      const results = await Promise.all(workers);
      for (const r of results) expect(r.stderr).not.toContain('internal error');
      // The worker that wrote the merged report exits with the run's verdict; the others did their share.
      expect(results.map((r) => r.code).sort()).toEqual([0, 0, 1]);

      expect(target.steps.size).toBe(SESSIONS);
      for (const [session, steps] of target.steps) expect(steps, session).toEqual([0, 1]);

      const merged = await readSummary(report);
      const one = await readSummary(join(dir, 'single'));
      expect(comparable(merged)).toEqual(comparable(one));
      const d = merged.distributed as { sessions: number; resent: number; workers: Array<{ worker: string; sessions: number }> };
      expect(d.sessions).toBe(SESSIONS);
      expect(d.resent).toBe(0);
      // every worker took a share
      expect(d.workers.map((w) => w.worker)).toEqual(['w1', 'w2', 'w3']);
      for (const w of d.workers) expect(w.sessions).toBeGreaterThan(0);

      const ids = (rows: Array<Record<string, unknown>>) => rows.map((r) => r.exchangeId as string).sort();
      expect(ids(await readLines(join(report, 'results.ndjson')))).toEqual(ids(await readLines(join(dir, 'single', 'results.ndjson'))));
      expect(ids(await readLines(join(report, 'diffs.ndjson')))).toEqual(ids(await readLines(join(dir, 'single', 'diffs.ndjson'))));

      // doppel report writes the same merged report again from Redis
      const again = await runCli(['report', '--run-id', runId, '--coordinator', TEST_REDIS_URL, '--out', join(dir, 'again')]);
      expect(again.code).toBe(1);
      expect(again.stdout).toContain(`${SESSIONS} sessions from 3 workers`);
      expect(comparable(await readSummary(join(dir, 'again')))).toEqual(comparable(merged));
    } finally {
      await target.close();
    }
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
      const results2 = await readLines(join(report, 'results.ndjson'));
      expect(new Set(results2.map((r) => r.exchangeId)).size).toBe(SESSIONS * STEPS);
      expect(results2.length).toBe(SESSIONS * STEPS);
      expect(target.steps.size).toBe(SESSIONS);
      for (const [session, steps] of target.steps) {
        // a re-sent session starts again from its first step; each delivery is in order
        if (d.resentSessions.includes(session)) expect(steps.slice(-STEPS), session).toEqual([0, 1]);
        else expect(steps, session).toEqual([0, 1]);
      }
    } finally {
      await target.close();
    }
  }, 300_000);
});
