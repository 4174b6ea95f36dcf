import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { HttpExchange } from '../../../src/core/exchange.js';
import { createMemoryCoordinator } from '../../../src/replay/coordinate/ipc-coordinator.js';
import { MemoryRun } from '../../../src/replay/coordinate/memory-run.js';
import { StreamLoader } from '../../../src/replay/coordinate/stream-loader.js';
import type { Coordinator, SessionLease, WorkerPartial } from '../../../src/replay/coordinate/types.js';
import { httpExchange } from '../../helpers/exchanges.js';
import { until } from '../../helpers/until.js';

const partial = {} as WorkerPartial;
const noLines = { diffs: [], results: [] };

/** Batches of exchanges, one session each unless `sessionOf` says otherwise; counts what it gave. */
function sourceOf(count: number, opts: { batch?: number; sessionOf?: (i: number) => string; gate?: { at: number; open: Promise<void> } } = {}) {
  const state = { yielded: 0 };
  const batch = opts.batch ?? 100;
  async function* gen(): AsyncGenerator<HttpExchange[]> {
    for (let i = 0; i < count; ) {
      if (opts.gate !== undefined && i >= opts.gate.at) await opts.gate.open;
      const out: HttpExchange[] = [];
      for (const end = Math.min(count, i + batch); i < end; i++) out.push(httpExchange({ session: opts.sessionOf?.(i) ?? `s${i}`, url: `/items/${i}` }));
      state.yielded += out.length;
      yield out;
    }
  }
  return { source: gen(), state };
}

/** A run of two workers whose first has claimed the load, and its loader. */
async function startedRun(): Promise<{ c: Coordinator; other: Coordinator; logs: Array<Record<string, unknown>>; loader: StreamLoader }> {
  const run = new MemoryRun({ claimTimeoutMs: 60_000 });
  const c = createMemoryCoordinator(run, 'w1', 60_000, { isDirect: true });
  const other = createMemoryCoordinator(run, 'w2', 60_000);
  await c.join();
  await other.join();
  expect(await c.claimLoad()).toBe(true);
  const logs: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  return { c, other, logs, loader: new StreamLoader({ coordinator: c, sessionOf: (ex) => ex.session, ownAhead: () => 1024, log }) };
}

describe('the loader of a local run hands each session over whole as soon as it has read past it', () => {
  it('another worker leases sessions while the traffic is still being read; all of it is loaded in the end', async () => {
    const { c, other, logs, loader } = await startedRun();
    let open!: () => void;
    const gate = { at: 3000, open: new Promise<void>((resolve) => (open = resolve)) };
    const { source, state } = sourceOf(5000, { gate });
    const loading = loader.load(source, new AbortController().signal);
    const leased: SessionLease[] = [];
    await until('sessions leased by the other worker', async () => {
      leased.push(...(await other.next(50)).leases);
      return leased.length > 0;
    }, 10_000);
    // the read stops at the gate: these sessions were leased before the traffic was read whole
    expect(state.yielded).toBe(3000);
    expect(loader.isDone).toBe(false);
    // the first 1,024 ended are the loader's own, to play next; the others get the ones after
    expect(leased[0]).toMatchObject({ session: 's1024', isResent: false });
    expect(leased[0]!.lines).toHaveLength(1);
    open();
    // the loader plays its own too: take them as its scheduler would
    const own: string[] = [];
    while (!loader.isDone || own.length + leased.length < 5000) {
      for (const s of loader.takeOwn(100)) own.push(s.session);
      const r = await other.next(100);
      leased.push(...r.leases);
      if (r.leases.length === 0 && loader.isDone && own.length + leased.length >= 5000) break;
      await loader.ready(5);
    }
    await loading;
    const seen = [...own, ...leased.map((l) => l.session)];
    expect(seen).toHaveLength(5000);
    expect(new Set(seen).size).toBe(5000);
    expect(own.length).toBeGreaterThan(0);
    expect(logs.find((l) => l.msg === 'traffic loaded into the run')).toMatchObject({ sessions: 5000, exchanges: 5000 });
    await c.close();
    await other.close();
  });

  it('nobody playing: the loader stops reading a bounded way ahead, not at the end of the traffic', async () => {
    const { c, other, loader } = await startedRun();
    const { source, state } = sourceOf(50_000);
    const stop = new AbortController();
    const loading = loader.load(source, stop.signal);
    await until('the loader paused', async () => {
      const before = state.yielded;
      await new Promise((r) => setTimeout(r, 100));
      return state.yielded === before && before > 0;
    }, 10_000);
    // its window (1,024), its own (1,024) and the others' (4,096) ahead, give or take a batch
    expect(state.yielded).toBeGreaterThan(6000);
    expect(state.yielded).toBeLessThan(7000);
    expect(loader.isDone).toBe(false);
    // taking its own lets it read on
    const at = state.yielded;
    expect(loader.takeOwn(500)).toHaveLength(500);
    await until('reading again', () => state.yielded > at, 10_000);
    stop.abort();
    await loading;
    expect(loader.isDone).toBe(true);
    await c.close();
    await other.close();
  });

  it('a session that comes back after it was handed over is a piece: it waits for the first, is marked, and the window grows', async () => {
    const { c, other, logs, loader } = await startedRun();
    // `a` at the start and again 1,500 exchanges later: past the first window
    const { source } = sourceOf(1502, { sessionOf: (i) => (i === 0 || i === 1501 ? 'a' : `s${i}`) });
    const loading = loader.load(source, new AbortController().signal);
    // both play and acknowledge what they get; `a`'s parts are noted in the order they are played
    const aParts: Array<{ by: string; isPiece: boolean }> = [];
    for (;;) {
      // the loader plays its own first, and leases when it has none, as its worker does
      let mine = loader.takeOwn(1000).map((o): SessionLease => ({ entry: String(o.slot), session: o.session, lines: [], isResent: false, ...(o.isPiece ? { isPiece: true } : {}) }));
      let isDone = false;
      if (mine.length === 0) ({ leases: mine, isDone } = await c.next(1000));
      const r = await other.next(1000);
      for (const l of mine) if (l.session === 'a') aParts.push({ by: 'loader', isPiece: l.isPiece === true });
      for (const l of r.leases) if (l.session === 'a') aParts.push({ by: 'other', isPiece: l.isPiece === true });
      if (mine.length > 0) await c.commit(partial, mine, noLines);
      if (r.leases.length > 0) await other.commit(partial, r.leases, noLines);
      if (r.isDone && isDone) break;
      if (mine.length === 0 && r.leases.length === 0) await loader.ready(5);
    }
    await loading;
    // both parts played by the same worker: the first was the loader's own, the piece comes back to it
    expect(aParts).toEqual([{ by: 'loader', isPiece: false }, { by: 'loader', isPiece: true }]);
    expect(logs.find((l) => l.msg === 'traffic loaded into the run')).toMatchObject({ sessions: 1501, exchanges: 1502, window: 2048 });
    await c.close();
    await other.close();
  });
});
