import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/core/clock.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { createMemoryCoordinator } from '../../src/replay/coordinate/ipc-coordinator.js';
import { MemoryRun } from '../../src/replay/coordinate/memory-run.js';
import { runReplay, type ReplayResult } from '../../src/replay/run-replay.js';
import type { ReplayOptions } from '../../src/replay/replay-options.js';
import { comparable, readSummary, startSessionTarget, STEPS, writeSessionTraffic } from '../helpers/distributed-replay.js';
import { tempDir } from '../helpers/http.js';

/** more sessions than the look-ahead starts with, so each session's two steps lie a window apart */
const SESSIONS = 400;

/** The run as its worker reaches it, counting the calls by method. */
class CountingRun extends MemoryRun {
  readonly calls = new Map<string, number>();
  override call(c: Parameters<MemoryRun['call']>[0]): unknown {
    this.calls.set(c.method, (this.calls.get(c.method) ?? 0) + 1);
    return super.call(c);
  }
}

describe('the sole worker of --workers 1 streams the traffic as one process does, and reports through the run', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let traffic: string;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('doppel-sole-'));
    traffic = join(dir, 'traffic');
    await writeSessionTraffic(traffic, SESSIONS);
  });
  afterAll(async () => {
    await cleanup();
  });

  it('loads nothing into the run, plays every session once and in order, and its merged report equals the one-process report', async () => {
    const target = await startSessionTarget();
    const cfg = parseConfig('', 'sole.yaml', {});
    const replay = (report: string, coordination?: ReplayOptions['coordination']): Promise<ReplayResult> =>
      runReplay(
        {
          replay: { ...cfg.replay, traffic: [traffic], target: target.url, concurrency: 8, report },
          compare: cfg.compare,
          gates: { status_pass_rate: '>= 0.99', body_match_rate: '>= 0.99' },
          cutoffs: cfg.cutoffs,
          vars: {},
          ...(coordination === undefined ? {} : { coordination }),
        },
        { log: pino({ level: 'silent' }), metrics: createMetrics(), clock: systemClock },
      );
    try {
      const single = join(dir, 'single');
      const one = await replay(single);
      target.steps.clear();

      const run = new CountingRun({ claimTimeoutMs: 1000, workers: 1 });
      const coordinator = createMemoryCoordinator(run, 'w1', 1000, { isDirect: true });
      expect(coordinator.isSole).toBe(true);
      const merged = join(dir, 'merged');
      const sole = await replay(merged, { coordinator, pollMs: 50 });

      // nothing was loaded into the run or leased from it; the worker committed its state and finished
      expect(run.calls.get('loadSessions')).toBeUndefined();
      expect(run.calls.get('next')).toBeUndefined();
      expect(run.calls.get('loadDone')).toBe(1);
      expect(run.calls.get('commit')).toBeGreaterThanOrEqual(1);
      expect(run.calls.get('finish')).toBe(1);
      expect(sole.shard?.isReporter).toBe(true);
      expect(sole.shard?.run).toMatchObject({ workers: 1, sessions: SESSIONS, resent: 0 });
      expect(sole.counts).toEqual(one.counts);
      expect(target.steps.size).toBe(SESSIONS);
      for (const [session, steps] of target.steps) expect(steps, session).toEqual([0, 1]);
      expect(one.counts.sent).toBe(SESSIONS * STEPS);
      // the planted mismatches fail the run alike
      expect(sole.verdict).toBe(one.verdict);
      expect(comparable(await readSummary(merged))).toEqual(comparable(await readSummary(single)));
      expect((await readSummary(merged)).distributed).toMatchObject({ sessions: SESSIONS, resent: 0, workers: [{ worker: 'w1', sessions: SESSIONS }] });
    } finally {
      await target.close();
    }
  }, 120_000);

  it('a run made for more than one worker is not streamed: its workers lease what the loader loaded', () => {
    const coordinator = createMemoryCoordinator(new MemoryRun({ claimTimeoutMs: 1000, workers: 2 }), 'w1', 1000, { isDirect: true });
    expect(coordinator.isSole).not.toBe(true);
    // nor is a worker of a sole run reached another way than directly (the tests' copying coordinator)
    expect(createMemoryCoordinator(new MemoryRun({ claimTimeoutMs: 1000, workers: 1 }), 'w1', 1000).isSole).not.toBe(true);
  });
});
