import { describe, expect, it } from 'vitest';
import { leasesOf, MemoryRun, slotRanges } from '../../../src/replay/coordinate/memory-run.js';
import type { LoadedSession, WorkerPartial } from '../../../src/replay/coordinate/types.js';

const partial = {} as WorkerPartial;
const noLines = { diffs: [], results: [] };

function loaded(sessions: number): { run: MemoryRun; clock: { t: number } } {
  const clock = { t: 0 };
  const run = new MemoryRun({ claimTimeoutMs: 1000, now: () => clock.t });
  run.join('w1');
  run.join('w2');
  expect(run.claimLoad('w1')).toBe(true);
  run.loadSessions('w1', Array.from({ length: sessions }, (_, i): LoadedSession => [`s${i}`, [`line${i}`], false, false]));
  run.loadDone('w1');
  return { run, clock };
}

describe('the in-process run leases sessions in grants of consecutive slots', () => {
  it('acknowledged slots travel as [first, count] ranges, whatever order they finished in', () => {
    expect(slotRanges(['7', '3', '4', '5', '9', '8', '0'])).toEqual([0, 1, 3, 3, 7, 3]);
    expect(slotRanges([])).toEqual([]);
  });

  it('a lost worker\'s grant is handed on without the sessions it acknowledged, split by what is asked', () => {
    const { run, clock } = loaded(10);
    const mine = leasesOf(run.next('w1', 6).blocks);
    expect(mine.map((l) => [l.entry, l.session, l.lines, l.isResent])).toEqual(
      Array.from({ length: 6 }, (_, i) => [String(i), `s${i}`, [`line${i}`], false]),
    );
    // w1 finishes slots 0, 2 and 3 of its six, then its process exits
    run.commit('w1', partial, slotRanges(['0', '2', '3']), noLines);
    run.lost('w1');
    clock.t = 10;
    // fresh sessions first
    expect(leasesOf(run.next('w2', 10).blocks).map((l) => l.session)).toEqual(['s6', 's7', 's8', 's9']);
    run.commit('w2', partial, slotRanges(['6', '7', '8', '9']), noLines);
    // then the unacknowledged part of the lost grant, two at a time as asked
    const first = leasesOf(run.next('w2', 2).blocks);
    expect(first.map((l) => [l.entry, l.session, l.lines, l.isResent])).toEqual([
      ['1', 's1', ['line1'], true],
      ['4', 's4', ['line4'], true],
    ]);
    const second = leasesOf(run.next('w2', 2).blocks);
    expect(second.map((l) => [l.entry, l.session, l.isResent])).toEqual([['5', 's5', true]]);
    // the split-off part is w2's own grant now, renewed by w2's heartbeat and not handed on again
    clock.t = 1500;
    run.renew('w2');
    clock.t = 2000;
    expect(run.next('w2', 10)).toEqual({ blocks: [], isDone: false });
    run.commit('w2', partial, slotRanges(['1', '4', '5']), noLines);
    expect(run.next('w2', 10)).toEqual({ blocks: [], isDone: true });
  });

  it('a slot acknowledged twice (a worker thought lost finished it after all) is counted once', () => {
    const { run, clock } = loaded(3);
    leasesOf(run.next('w1', 3).blocks);
    clock.t = 5000;
    run.join('w2');
    const again = leasesOf(run.next('w2', 3).blocks);
    expect(again.map((l) => [l.session, l.isResent])).toEqual([
      ['s0', true],
      ['s1', true],
      ['s2', true],
    ]);
    run.commit('w1', partial, slotRanges(['0', '1', '2']), noLines);
    run.commit('w2', partial, slotRanges(['0', '1', '2']), noLines);
    expect(run.next('w2', 3)).toEqual({ blocks: [], isDone: true });
  });

  it('a grant not renewed within the claim timeout goes to another worker; one renewed does not', () => {
    const { run, clock } = loaded(4);
    leasesOf(run.next('w1', 2).blocks);
    leasesOf(run.next('w2', 2).blocks);
    clock.t = 900;
    run.renew('w2');
    clock.t = 1500;
    const taken = leasesOf(run.next('w2', 10).blocks);
    expect(taken.map((l) => [l.session, l.isResent])).toEqual([
      ['s0', true],
      ['s1', true],
    ]);
  });
});
