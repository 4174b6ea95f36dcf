import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { comparable, readLines, readSummary, startSessionTarget, STEPS, writeGates, writeSessionTraffic } from '../helpers/distributed-replay.js';
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
