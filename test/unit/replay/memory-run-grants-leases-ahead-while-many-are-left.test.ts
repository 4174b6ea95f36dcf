import { describe, expect, it } from 'vitest';
import { leasesOf, MemoryRun } from '../../../src/replay/coordinate/memory-run.js';
import type { LoadedSession } from '../../../src/replay/coordinate/types.js';

function loaded(sessions: number, workers: string[]): MemoryRun {
  const run = new MemoryRun({ claimTimeoutMs: 1000, now: () => 0 });
  for (const w of workers) run.join(w);
  expect(run.claimLoad(workers[0] as string)).toBe(true);
  run.loadSessions(workers[0] as string, Array.from({ length: sessions }, (_, i): LoadedSession => [`s${i}`, [`line${i}`], false, false]));
  run.loadDone(workers[0] as string);
  return run;
}

describe('the in-process run grants leases ahead only while many sessions are left', () => {
  it('grants up to `ahead` while that is under half a fair share, then only `max`', () => {
    const run = loaded(200, ['w1', 'w2']);
    // 200 left, 2 live workers: half a fair share is 50, more than ahead
    expect(leasesOf(run.next('w1', 4, 32).blocks)).toHaveLength(32);
    // 168 left: 42
    expect(leasesOf(run.next('w2', 4, 64).blocks)).toHaveLength(42);
    // 126 left: 31
    expect(leasesOf(run.next('w1', 4, 64).blocks)).toHaveLength(31);
    // the tail: never less than asked, never more than half a fair share once it is under `max`
    let left = 200 - 32 - 42 - 31;
    while (left > 0) {
      const n = leasesOf(run.next('w2', 4, 64).blocks).length;
      expect(n).toBe(Math.min(left, Math.max(4, Math.floor(left / 4))));
      left -= n;
    }
    expect(leasesOf(run.next('w1', 4, 64).blocks)).toHaveLength(0);
  });

  it('without `ahead` a call gets `max` at most, as before', () => {
    const run = loaded(100, ['w1']);
    expect(leasesOf(run.next('w1', 5).blocks).map((l) => l.session)).toEqual(['s0', 's1', 's2', 's3', 's4']);
  });
});
