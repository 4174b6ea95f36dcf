import { describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import type { HttpExchange } from '../../../src/core/exchange.js';
import { LookAheadWindow, scheduleSessions, type SchedulerStats } from '../../../src/replay/session-scheduler.js';
import { httpExchange } from '../../helpers/exchanges.js';

// 12 sessions of 5 requests each, interleaved: request i belongs to session i % 12
const stream = (): HttpExchange[] => Array.from({ length: 60 }, (_, i) => httpExchange({ id: `ex-${String(i).padStart(3, '0')}`, session: `s-${i % 12}`, url: `/items/${i}` }));

async function* singles(all: HttpExchange[]): AsyncGenerator<HttpExchange> {
  for (const ex of all) yield ex;
}

async function* batches(all: HttpExchange[], size: number): AsyncGenerator<HttpExchange[]> {
  for (let i = 0; i < all.length; i += size) yield all.slice(i, i + size);
}

async function run(source: Parameters<typeof scheduleSessions>[0]['source'], window: number): Promise<{ bySession: Map<string, string[]>; stats: SchedulerStats }> {
  const bySession = new Map<string, string[]>();
  const stats = await scheduleSessions({
    source,
    workers: 3,
    timing: { mode: 'recorded', timeScale: 1e9, maxDelayMs: 0 },
    window,
    sessionMemory: 10,
    clock: systemClock,
    signal: new AbortController().signal,
    play: async (req, session) => {
      const ids = bySession.get(session.id) ?? [];
      ids.push(req.exchange.id);
      bySession.set(session.id, ids);
      await new Promise((r) => setImmediate(r));
    },
  });
  return { bySession, stats };
}

describe('the session scheduler', () => {
  it('plays a batched source as it plays the same exchanges one by one: every request once, each session in order, the window kept', async () => {
    const one = await run(singles(stream()), 8);
    const batched = await run({ batches: batches(stream(), 25) }, 8);
    for (const r of [one, batched]) {
      expect(r.stats.started).toBe(60);
      expect(r.stats.maxBuffered).toBeLessThanOrEqual(8);
      expect([...r.bySession.values()].flat().sort()).toEqual(stream().map((e) => e.id));
      for (const ids of r.bySession.values()) expect(ids).toEqual([...ids].sort());
    }
    expect(new Set(batched.bySession.keys())).toEqual(new Set(one.bySession.keys()));
  });

  it('with a window of one, the reader refills after every request and nothing stalls', async () => {
    const r = await run({ batches: batches(stream(), 60) }, 1);
    expect(r.stats.started).toBe(60);
    expect(r.stats.maxBuffered).toBe(1);
  });

  it('tells afterPlay of each request once its play has settled, and of none played after the stop', async () => {
    const stop = new AbortController();
    const settled = new Set<string>();
    const told: string[] = [];
    const stats = await scheduleSessions({
      source: { batches: batches(stream(), 25) },
      workers: 3,
      timing: { mode: 'recorded', timeScale: 1e9, maxDelayMs: 0 },
      window: 8,
      sessionMemory: 10,
      clock: systemClock,
      signal: stop.signal,
      play: async (req) => {
        await new Promise((r) => setImmediate(r));
        settled.add(req.exchange.id);
        if (settled.size === 20) stop.abort();
      },
      afterPlay: (req) => {
        expect(settled.has(req.exchange.id)).toBe(true);
        told.push(req.exchange.id);
      },
    });
    // the plays that settled before the stop, each told once; the ones settling with or after it are not
    expect(told.length).toBe(19);
    expect(new Set(told).size).toBe(19);
    expect(told.every((id) => settled.has(id))).toBe(true);
    expect(stats.started).toBeGreaterThanOrEqual(20);
    expect(settled.size).toBe(stats.started);
  });

  it('a growing look-ahead stays small while sessions come out whole, and doubles when one comes out in pieces, until they do', async () => {
    const playOnce = async (all: HttpExchange[], window: LookAheadWindow) => {
      const pieces = { count: 0 };
      const bySession = new Map<string, string[]>();
      const stats = await scheduleSessions({
        source: { batches: batches(all, 50) },
        workers: 2,
        timing: { mode: 'recorded', timeScale: 1e9, maxDelayMs: 0 },
        window: () => window.size,
        onPiece: () => {
          pieces.count++;
          window.grow();
        },
        sessionMemory: 1000,
        clock: systemClock,
        signal: new AbortController().signal,
        play: async (req, session) => {
          bySession.set(session.id, [...(bySession.get(session.id) ?? []), req.exchange.id]);
          await new Promise((r) => setImmediate(r));
        },
      });
      return { pieces: pieces.count, stats, bySession };
    };
    // one request per session: nothing comes back, the window never grows
    const single = new LookAheadWindow(4, 256);
    const one = await playOnce(Array.from({ length: 300 }, (_, i) => httpExchange({ id: `a-${String(i).padStart(3, '0')}`, session: `a-${i}` })), single);
    expect(one.pieces).toBe(0);
    expect(single.size).toBe(4);
    expect(one.stats.maxBuffered).toBeLessThanOrEqual(4);
    // 40 sessions interleaved, each request 40 requests after its session's previous one: a window
    // of 4 splits them, so it grows until a session's next request is read before its last finishes
    const spread = new LookAheadWindow(4, 256);
    const all = Array.from({ length: 800 }, (_, i) => httpExchange({ id: `b-${String(i).padStart(3, '0')}`, session: `b-${i % 40}` }));
    const r = await playOnce(all, spread);
    expect(r.pieces).toBeGreaterThan(0);
    expect(spread.size).toBeGreaterThanOrEqual(32);
    expect(spread.size).toBeLessThanOrEqual(256);
    // pieces or not, every request once and each session in order
    expect([...r.bySession.values()].flat().sort()).toEqual(all.map((e) => e.id).sort());
    for (const ids of r.bySession.values()) expect(ids).toEqual([...ids].sort());
    // a second run at the grown size splits far fewer sessions
    const again = await playOnce(all, new LookAheadWindow(spread.size, spread.size));
    expect(again.pieces).toBeLessThan(r.pieces);
  });
});
