import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, DOPPEL_BIN, ROOT, runCli, startCli } from '../helpers/cli.js';
import { until } from '../helpers/until.js';
import { connectionsTo, ipcWorkerPids } from '../helpers/process-sockets.js';
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
      const d = merged.distributed as { sessions: number; workers: Array<{ worker: string; sessions: number }> };
      expect(d.sessions).toBe(SESSIONS);
      expect(d.workers.map((w) => w.worker)).toEqual(['w1', 'w2', 'w3']);
      // the loader keeps only what it plays next: the worker processes started after it get sessions too
      expect(d.workers.filter((w) => w.worker !== 'w1' && w.sessions > 0).length, JSON.stringify(d.workers)).toBeGreaterThan(0);
      expect(d.workers.reduce((n, w) => n + w.sessions, 0)).toBe(SESSIONS);
      expect((await readLines(join(dir, 'many', 'results.ndjson'))).length).toBe(SESSIONS * STEPS);
      // The worker that reports prints the run's totals, the same the one-process run prints as its own.
      const one = /sent (\d+) {2}passed (\d+) {2}failed (\d+) {2}errors (\d+)/.exec(single.stdout);
      expect(one, single.stdout).not.toBeNull();
      const [, sent, passed, failed, errors] = one as RegExpExecArray;
      expect(many.stdout).toContain(`all 3 workers: judged ${sent}  passed ${passed}  failed ${failed}  errors ${errors}  sessions ${SESSIONS}`);
      expect(many.stdout.match(/ {2}worker w\d: {2}sent \d+/g)?.length).toBe(3);
      // one verdict for the run; the other two workers say their share is done, not PASSED
      expect(many.stdout.match(/^doppel replay \S+: FAILED$/gm)?.length).toBe(1);
      expect(many.stdout.match(/^doppel replay \S+: worker w\d done with its share$/gm)?.length).toBe(2);
      expect(many.stdout).not.toContain('PASSED');
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
      const workerPid = (): number | undefined => ipcWorkerPids(parent.child.pid as number).get('w2');
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
      expect(ipcWorkerPids(parent.child.pid as number).size).toBe(0);
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

  it('Ctrl-C (SIGINT to the terminal\'s process group) stops every worker cleanly: each commits its share and the report holds it', async () => {
    const target = await startSessionTarget(40);
    try {
      const report = join(dir, 'interrupted');
      // its own process group, as a shell gives a foreground job: the signal goes to the whole group
      const child = spawn(process.execPath, [DOPPEL_BIN, 'replay', '--traffic', traffic, '--target', target.url, '--gates', gates, '--report', report, '--concurrency', '6', '--workers', '2'], {
        cwd: ROOT,
        env: cliEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      let stderr = '';
      let stdout = '';
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      const workerPid = (): number | undefined => ipcWorkerPids(child.pid as number).get('w2');
      await until('worker process w2 started', () => workerPid() !== undefined, 30_000);
      const port = Number(new URL(target.url).port);
      await until('worker w2 sending', () => connectionsTo(workerPid() as number, port) > 0, 60_000);
      // long enough for w2 to finish sessions and commit them (every 200 ms), well short of the end
      const atStart = target.total();
      await until('w2 a few commits in', () => target.total() >= atStart + 120, 60_000);
      expect(target.total()).toBeLessThan(SESSIONS * STEPS);
      process.kill(-(child.pid as number), 'SIGINT');
      expect(await exited).toBe(3);
      // one signal each: the worker process is stopped by the one SIGTERM its parent sends, not forced
      expect(stderr).not.toContain('stopping now');
      expect(stderr).toContain('SIGTERM received, stopping cleanly');
      const merged = await readSummary(report);
      expect(merged.verdict).toBe('aborted');
      const d = merged.distributed as { sessions: number; workers: Array<{ worker: string; sessions: number; abortReason?: string }> };
      expect(d.workers.map((w) => [w.worker, w.abortReason])).toEqual([
        ['w1', 'interrupted (SIGINT)'],
        ['w2', 'interrupted (SIGTERM)'],
      ]);
      expect(d.workers.every((w) => w.sessions > 0)).toBe(true);
      expect(d.sessions).toBeLessThan(SESSIONS);
      // every committed session is in the report, each request once
      expect((await readLines(join(report, 'results.ndjson'))).length).toBe(d.sessions * STEPS);
      expect(stdout).toContain(`sessions ${d.sessions}`);
    } finally {
      await target.close();
    }
  }, 300_000);

  it('kill -9 of the process holding the run: its worker processes stop on their own, none is left running', async () => {
    const target = await startSessionTarget(40);
    try {
      const parent = startCli(['replay', '--traffic', traffic, '--target', target.url, '--gates', gates, '--concurrency', '6', '--workers', '3']);
      const workers = (): number[] => [...ipcWorkerPids(parent.child.pid as number).values()];
      await until('both worker processes started', () => workers().length === 2, 30_000);
      const pids = workers();
      const port = Number(new URL(target.url).port);
      await until('the worker processes sending', () => pids.every((p) => connectionsTo(p, port) > 0), 60_000);
      parent.child.kill('SIGKILL');
      const isAlive = (pid: number) => {
        try {
          process.kill(pid, 0);
          return true;
        } catch {
          return false;
        }
      };
      // no reply comes to a worker's pending call once the channel closes: it stops instead of waiting
      await until('every worker process gone', () => !pids.some(isAlive), 30_000);
      expect(target.total()).toBeLessThan(SESSIONS * STEPS);
    } finally {
      await target.close();
    }
  }, 300_000);

  it('a line of an unsupported format version read mid-run: exit 2 naming the file and line, and no worker process is left', async () => {
    // Sessions are leased while the traffic is read: the bad line comes after the first ones were handed over.
    const bad = join(dir, 'bad-traffic');
    await writeSessionTraffic(bad, 1500);
    const segment = join(bad, 'exchanges-000001.ndjson');
    const lines = (await readFile(segment, 'utf8')).split('\n');
    lines.splice(2500, 0, JSON.stringify({ v: 99, id: 'from-the-future' }));
    await writeFile(segment, lines.join('\n'));
    const target = await startSessionTarget(5);
    try {
      const parent = startCli(['replay', '--traffic', bad, '--target', target.url, '--concurrency', '6', '--workers', '2']);
      let stderr = '';
      parent.child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      const seen = new Set<number>();
      const watch = setInterval(() => {
        for (const pid of ipcWorkerPids(parent.child.pid as number).values()) seen.add(pid);
      }, 20);
      const code = await new Promise<number | null>((resolve) => parent.child.once('exit', resolve));
      clearInterval(watch);
      expect(code, stderr).toBe(2);
      expect(stderr).toContain(`${segment}:2501: exchange format version 99 is not supported`);
      expect(stderr).not.toContain('internal error');
      expect(seen.size).toBe(1);
      for (const pid of seen) expect(() => process.kill(pid, 0)).toThrow();
      expect(target.total()).toBeGreaterThan(0);
    } finally {
      await target.close();
    }
  }, 120_000);

  it('--workers with a value that is not a count is a usage error (exit 2)', async () => {
    const r = await runCli(['replay', '--traffic', traffic, '--target', 'http://127.0.0.1:9', '--workers', 'many']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--workers: expected a number of workers');
  });
});
