import { describe, expect, it } from 'vitest';
import { leasesOf, MemoryRun } from '../../../src/replay/coordinate/memory-run.js';

function loaded(kept: string[]): { run: MemoryRun; clock: { t: number } } {
  const clock = { t: 0 };
  const run = new MemoryRun({ claimTimeoutMs: 1000, now: () => clock.t });
  run.join('w1');
  run.join('w2');
  expect(run.claimLoad('w1')).toBe(true);
  run.loadBatch('w1', [
    ['a', 'a1'],
    ['b', 'b1'],
    ['a', 'a2'],
    ['c', 'c1'],
  ]);
  run.loadDone('w1', kept);
  return { run, clock };
}

describe('the in-process run leases the loader its kept sessions without their lines', () => {
  it('the loader gets its kept sessions marked local and empty, the others with their lines', () => {
    const { run } = loaded(['a', 'b']);
    const leases = leasesOf(run.next('w1', 10).blocks);
    expect(leases.map((l) => [l.session, l.lines, l.isLocal === true])).toEqual([
      ['a', [], true],
      ['b', [], true],
      ['c', ['c1'], false],
    ]);
  });

  it('another worker leasing a session the loader kept gets its lines', () => {
    const { run } = loaded(['a', 'b', 'c']);
    const leases = leasesOf(run.next('w2', 2).blocks);
    expect(leases.map((l) => [l.session, l.lines, l.isLocal === true])).toEqual([
      ['a', ['a1', 'a2'], false],
      ['b', ['b1'], false],
    ]);
  });

  it('a kept session re-sent after the loader is lost comes with its lines', () => {
    const { run, clock } = loaded(['a', 'b', 'c']);
    expect(leasesOf(run.next('w1', 1).blocks)[0]).toMatchObject({ session: 'a', lines: [], isLocal: true });
    run.lost('w1');
    clock.t = 10;
    const again = leasesOf(run.next('w2', 10).blocks);
    // fresh sessions first, then the lost worker's
    expect(again.map((l) => [l.session, l.lines, l.isResent, l.isLocal === true])).toEqual([
      ['b', ['b1'], false, false],
      ['c', ['c1'], false, false],
    ]);
    const resent = leasesOf(run.next('w2', 10).blocks);
    expect(resent.map((l) => [l.session, l.lines, l.isResent, l.isLocal === true])).toEqual([['a', ['a1', 'a2'], true, false]]);
  });
});
