import { describe, expect, it } from 'vitest';
import { leasesOf, MemoryRun, slotRanges } from '../../../src/replay/coordinate/memory-run.js';
import type { WorkerPartial } from '../../../src/replay/coordinate/types.js';

const partial = {} as WorkerPartial;
const noLines = { diffs: [], results: [] };

function started(): { run: MemoryRun; clock: { t: number } } {
  const clock = { t: 0 };
  const run = new MemoryRun({ claimTimeoutMs: 1000, now: () => clock.t });
  run.join('w1');
  run.join('w2');
  expect(run.claimLoad('w1')).toBe(true);
  return { run, clock };
}

describe('the in-process run takes sessions whole as the loader finds them ended', () => {
  it('a session handed over is leased at once, while the loader reads on; the run is done only once loaded and acknowledged', () => {
    const { run } = started();
    expect(run.next('w2', 4)).toMatchObject({ blocks: [], isDone: false, isLoading: true });
    expect(run.loadSessions('w1', [['a', ['a1', 'a2'], false, false]])).toEqual({ slots: [0], waiting: 1 });
    const leases = leasesOf(run.next('w2', 4).blocks);
    expect(leases.map((l) => [l.entry, l.session, l.lines])).toEqual([['0', 'a', ['a1', 'a2']]]);
    run.commit('w2', partial, slotRanges(['0']), noLines);
    // nothing left, but the loader has not said it is done
    expect(run.next('w2', 4)).toMatchObject({ isDone: false, isLoading: true });
    run.loadDone('w1');
    expect(run.next('w2', 4)).toEqual({ blocks: [], isDone: true });
  });

  it('the loader\'s own sessions are granted to it as it hands them over: the others lease around them', () => {
    const { run } = started();
    const answer = run.loadSessions('w1', [
      ['a', ['a1'], true, false],
      ['b', ['b1'], false, false],
      ['c', ['c1'], true, false],
      ['d', ['d1'], false, false],
    ]);
    expect(answer).toEqual({ slots: [0, 1, 2, 3], waiting: 2 });
    const block = run.next('w2', 10).blocks[0];
    // not consecutive: the slots travel with the block
    expect(block).toMatchObject({ slots: [1, 3], sessions: ['b', 'd'], lines: [['b1'], ['d1']] });
    expect(leasesOf([block!]).map((l) => l.entry)).toEqual(['1', '3']);
  });

  it('an own session of a lost loader goes to another worker with its lines, as re-sent', () => {
    const { run, clock } = started();
    run.loadSessions('w1', [['a', ['a1', 'a2'], true, false]]);
    run.loadDone('w1');
    expect(run.next('w2', 10)).toMatchObject({ blocks: [], isDone: false });
    run.lost('w1');
    clock.t = 10;
    const again = leasesOf(run.next('w2', 10).blocks);
    expect(again.map((l) => [l.session, l.lines, l.isResent])).toEqual([['a', ['a1', 'a2'], true]]);
  });

  it('a piece of a session whose slot is unacknowledged waits for it, then is leased as a piece with its lines', () => {
    const { run } = started();
    run.loadSessions('w1', [['a', ['a1'], false, false]]);
    expect(leasesOf(run.next('w2', 10).blocks).map((l) => l.session)).toEqual(['a']);
    // two later pieces and a new session: the pieces wait, the new session does not
    expect(run.loadSessions('w1', [['a', ['a2'], true, true], ['b', ['b1'], false, false], ['a', ['a3'], false, true]])).toEqual({ slots: [-1, 1, -1], waiting: 1 });
    expect(leasesOf(run.next('w1', 10).blocks).map((l) => l.session)).toEqual(['b']);
    run.loadDone('w1');
    expect(run.next('w1', 10)).toMatchObject({ blocks: [], isDone: false });
    run.commit('w2', partial, slotRanges(['0']), noLines);
    // the piece goes to the worker that played the session so far, which holds its captured values
    expect(run.next('w1', 10)).toMatchObject({ blocks: [], isDone: false });
    const piece = leasesOf(run.next('w2', 10).blocks);
    expect(piece.map((l) => [l.entry, l.session, l.lines, l.isPiece])).toEqual([['2', 'a', ['a2', 'a3'], true]]);
    run.commit('w1', partial, slotRanges(['1']), noLines);
    run.commit('w2', partial, slotRanges(['2']), noLines);
    expect(run.next('w1', 10)).toEqual({ blocks: [], isDone: true });
  });

  it('a piece handed over after its session was acknowledged goes to the worker that played it, or to anyone once that one is lost', () => {
    const { run } = started();
    run.join('w3');
    run.loadSessions('w1', [['a', ['a1'], false, false], ['b', ['b1'], false, false]]);
    expect(leasesOf(run.next('w2', 1).blocks).map((l) => l.session)).toEqual(['a']);
    expect(leasesOf(run.next('w3', 1).blocks).map((l) => l.session)).toEqual(['b']);
    run.commit('w2', partial, slotRanges(['0']), noLines);
    run.commit('w3', partial, slotRanges(['1']), noLines);
    run.loadSessions('w1', [['a', ['a2'], false, true], ['b', ['b2'], false, true]]);
    expect(leasesOf(run.next('w2', 10).blocks).map((l) => [l.session, l.lines])).toEqual([['a', ['a2']]]);
    run.lost('w3');
    expect(leasesOf(run.next('w2', 10).blocks).map((l) => [l.session, l.lines, l.isPiece])).toEqual([['b', ['b2'], true]]);
  });

  it('the loader lost before it read the whole traffic: a worker asking is told so once the claim timeout passes without a word from it', () => {
    const { run, clock } = started();
    run.loadSessions('w1', [['a', ['a1'], false, false]]);
    run.lost('w1');
    expect(leasesOf(run.next('w2', 10).blocks)).toHaveLength(1);
    run.commit('w2', partial, slotRanges(['0']), noLines);
    // its worker is gone, but a loader in the process holding the run may read on
    clock.t = 900;
    expect(run.next('w2', 10)).toEqual({ blocks: [], isDone: false, isLoading: true });
    run.loadSessions('w1', [['b', ['b1'], false, false]]);
    clock.t = 1800;
    expect(leasesOf(run.next('w2', 10).blocks).map((l) => l.session)).toEqual(['b']);
    run.commit('w2', partial, slotRanges(['1']), noLines);
    expect(run.next('w2', 10)).toEqual({ blocks: [], isDone: false, isLoading: true });
    clock.t = 2000;
    expect(run.next('w2', 10)).toMatchObject({ blocks: [], isDone: false, isLoadLost: true });
  });

  it('a loader that failed says why, and a worker asking is told at once', () => {
    const { run } = started();
    run.loadFailed('w1', 'traffic/exchanges-000001.ndjson:7: exchange format version 9 is not supported');
    expect(run.next('w2', 10)).toEqual({ blocks: [], isDone: false, isLoading: true, isLoadLost: true, loadError: 'traffic/exchanges-000001.ndjson:7: exchange format version 9 is not supported' });
  });
});
