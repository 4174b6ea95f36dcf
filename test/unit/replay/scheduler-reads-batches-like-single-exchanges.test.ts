import { describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import type { HttpExchange } from '../../../src/core/exchange.js';
import { scheduleSessions, type SchedulerStats } from '../../../src/replay/session-scheduler.js';
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
});
