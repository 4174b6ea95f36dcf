import { describe, expect, it } from 'vitest';
import type { ReplayResult } from '../../../src/replay/replay-options.js';
import { formatVerdict } from '../../../src/replay/progress-view.js';
import type { ShareChange } from '../../../src/replay/run-share.js';

function result(over: Partial<ReplayResult>): ReplayResult {
  return {
    runId: 'run-1',
    verdict: 'pass',
    exitCode: 0,
    abortReason: undefined,
    gates: [],
    counts: { sent: 10, passed: 10, failed: 0, errors: 0, warmup: 0, unjudged: 0, cancelled: 0, noiseSamples: 0, newMismatches: 0 },
    reportDir: undefined,
    achievedRate: 2480,
    judgedOffLoop: 0,
    targetRate: undefined,
    rateShortfall: undefined,
    schedule: { lagP50Ms: 0, lagP99Ms: 0, lagMaxMs: 0, maxBuffered: 0 },
    mockCounts: undefined,
    ...over,
  };
}

const share = (liveWorkers: number, rate: number, atMs = 0): ShareChange => ({ atMs, liveWorkers, concurrency: 8, rate });

describe('the verdict block holds a worker of a shared run to its share of --rate', () => {
  it('one process: the rate is the run\'s', () => {
    expect(formatVerdict(result({ targetRate: 5000, rateShortfall: 0.5, achievedRate: 2480 }))).toContain('rate 2480.0 rps (target 5000 rps, 50% short)');
  });

  it('a worker whose share never changed is held to it, and says whose rate it is', () => {
    const text = formatVerdict(result({ targetRate: 2500, rateShortfall: 0, shard: { isReporter: false, resent: 0, shares: [share(2, 2500)], worker: 'w2' } }));
    expect(text).toContain("rate 2480.0 rps (its share of the run's 5000 rps: 2500 rps, reached)");
    expect(text).not.toContain('short');
  });

  it('a worker whose share was recomputed gets no shortfall figure against a rate it did not have', () => {
    const text = formatVerdict(result({ targetRate: undefined, shard: { isReporter: false, resent: 0, shares: [share(1, 5000), share(2, 2500, 900)], worker: 'w1' } }));
    expect(text).toContain("rate 2480.0 rps (a share of the run's 5000 rps, recomputed as workers joined or left)");
    expect(text).not.toContain('short');
  });
});
