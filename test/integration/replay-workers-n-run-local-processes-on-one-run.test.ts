import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli } from '../helpers/cli.js';
import { until } from '../helpers/until.js';
import { connectionsTo } from '../helpers/process-sockets.js';
import { comparable, expectEachSessionJudgedOnceInOrder, readLines, readSummary, startSessionTarget, STEPS, writeGates, writeSessionTraffic } from '../helpers/distributed-replay.js';
import { tempDir } from '../helpers/http.js';

const SESSIONS = 300;

describe('doppel replay --workers N without Redis', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let traffic: string;
  let gates: string;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('doppel-workers-'));
    traffic = join(dir, 'traffic');
    await writeSessionTraffic(traffic, SESSIONS);
    gates = await writeGates(dir);
  });
  afterAll(async () => {
    await cleanup();
  });

  it('3 local worker processes share the sessions in-process: each once, in order, and one merged report equal to a 1-process run', async () => {
    // Answers take 40 ms, so the run outlasts the workers' start-up spread on a busy machine and each of the three gets sessions.
    const target = await startSessionTarget(40);
    try {
      const base = ['replay', '--traffic', traffic, '--target', target.url, '--gates', gates, '--concurrency', '6'];
      const single = await runCli([...base, '--report', join(dir, 'single')], { timeoutMs: 200_000 });
      expect(single.code).toBe(1);
      target.steps.clear();
      const many = await runCli([...base, '--report', join(dir, 'many'), '--workers', '3'], { timeoutMs: 200_000 });
      expect(many.stderr).not.toContain('internal error');
      // the verdict of the merged report: the planted mismatches fail body_match_rate
      expect(many.code).toBe(1);
      expect(target.steps.size).toBe(SESSIONS);
      for (const [session, steps] of target.steps) expect(steps, session).toEqual([0, 1]);
      const merged = await readSummary(join(dir, 'many'));
      expect(comparable(merged)).toEqual(comparable(await readSummary(join(dir, 'single'))));
      const d = merged.distributed as { sessions: number; workers: Array<{ worker: string }> };
      expect(d.sessions).toBe(SESSIONS);
      expect(d.workers.map((w) => w.worker)).toEqual(['w1', 'w2', 'w3']);
      expect((await readLines(join(dir, 'many', 'results.ndjson'))).length).toBe(SESSIONS * STEPS);
      // The worker that reports prints the run's totals, the same the one-process run prints as its own.
      const one = /sent (\d+) {2}passed (\d+) {2}failed (\d+) {2}errors (\d+)/.exec(single.stdout);
      expect(one, single.stdout).not.toBeNull();
      const [, sent, passed, failed, errors] = one as RegExpExecArray;
      expect(many.stdout).toContain(`all 3 workers: judged ${sent}  passed ${passed}  failed ${failed}  errors ${errors}  sessions ${SESSIONS}`);
      expect(many.stdout.match(/ {2}worker w\d: {2}sent \d+/g)?.length).toBe(3);
    } finally {
      await target.close();
    }
  }, 300_000);

  it('kill -9 of one worker process: the others read its sessions from the store again, each is judged once, and the re-sent ones are reported', async () => {
    const target = await startSessionTarget(40);
    try {
      const report = join(dir, 'killed');
      const parent = startCli(['replay', '--traffic', traffic, '--target', target.url, '--gates', gates, '--report', report, '--concurrency', '6', '--workers', '3']);
      let stderr = '';
      parent.child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => parent.child.once('exit', resolve));
      // The parent plays w1 itself; w2 and w3 are its children. w2 is killed once it is sending
      // (a connection of its own to the target: it holds leases from then on, as sessions are
      // leased a few at a time) and a third of the requests is done.
      const workerPid = (): number | undefined => {
        let ps = '';
        try {
          ps = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(parent.child.pid)], { encoding: 'utf8' });
        } catch {
          // ps exits 1 while the parent has no children yet
        }
        const line = ps.split('\n').find((l) => / --ipc-worker w2\b/.test(l));
        return line === undefined ? undefined : Number(line.trim().split(/\s+/)[0]);
      };
      await until('worker process w2 started', () => workerPid() !== undefined, 30_000);
      const victim = workerPid() as number;
      const port = Number(new URL(target.url).port);
      await until('worker w2 sending', () => connectionsTo(victim, port) > 0, 60_000);
      await until('a third of the requests', () => target.total() >= (SESSIONS * STEPS) / 3, 200_000);
      expect(target.total()).toBeLessThan(SESSIONS * STEPS);
      process.kill(victim, 'SIGKILL');
      const code = await exited;
      expect(stderr).not.toContain('internal error');
      // the verdict of the merged report: the planted mismatches fail body_match_rate
      expect(code).toBe(1);

      const merged = await readSummary(report);
      const d = merged.distributed as { sessions: number; resent: number; resentSessions: string[] };
      expect(d.sessions).toBe(SESSIONS);
      expect(d.resent).toBeGreaterThan(0);
      // each exchange judged exactly once, though some were sent twice
      await expectEachSessionJudgedOnceInOrder(report, target, SESSIONS, d.resentSessions);
    } finally {
      await target.close();
    }
  }, 300_000);

  it('--workers 1 plays its one worker in the process that holds the run: no worker process is started', async () => {
    const target = await startSessionTarget(20);
    try {
      const report = join(dir, 'one');
      const parent = startCli(['replay', '--traffic', traffic, '--target', target.url, '--gates', gates, '--report', report, '--concurrency', '6', '--workers', '1']);
      const exited = new Promise<number | null>((resolve) => parent.child.once('exit', resolve));
      const port = Number(new URL(target.url).port);
      await until('the run sending', () => connectionsTo(parent.child.pid as number, port) > 0, 60_000);
      let children = '';
      try {
        children = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(parent.child.pid)], { encoding: 'utf8' });
      } catch {
        // ps exits 1: no children
      }
      expect(children).not.toContain('--ipc-worker');
      // the planted mismatches fail body_match_rate, as in a one-process run
      expect(await exited).toBe(1);
      const merged = await readSummary(report);
      const d = merged.distributed as { sessions: number; workers: Array<{ worker: string }> };
      expect(d.sessions).toBe(SESSIONS);
      expect(d.workers.map((w) => w.worker)).toEqual(['w1']);
      await expectEachSessionJudgedOnceInOrder(report, target, SESSIONS, []);
    } finally {
      await target.close();
    }
  }, 300_000);

  it('--workers with a value that is not a count is a usage error (exit 2)', async () => {
    const r = await runCli(['replay', '--traffic', traffic, '--target', 'http://127.0.0.1:9', '--workers', 'many']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--workers: expected a number of workers');
  });
});
