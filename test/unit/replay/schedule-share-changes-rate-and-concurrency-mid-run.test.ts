import { describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import type { HttpExchange } from '../../../src/core/exchange.js';
import { ScheduleShare, scheduleSessions } from '../../../src/replay/session-scheduler.js';
import { httpExchange } from '../../helpers/exchanges.js';

async function* traffic(n: number): AsyncGenerator<HttpExchange> {
  for (let i = 0; i < n; i++) yield httpExchange({ id: `ex-${i}`, session: `s-${i}`, url: `/items/${i}` });
}

describe('a schedule share changed mid-run', () => {
  it('a new rate spaces the requests read after it, and no due time moves back', async () => {
    const share = new ScheduleShare(2, 1000);
    const due: number[] = [];
    await scheduleSessions({
      source: traffic(60),
      workers: 99,
      timing: { mode: 'rate', rps: 99_999 },
      share,
      window: 2,
      sessionMemory: 10,
      clock: systemClock,
      signal: new AbortController().signal,
      play: async (req) => {
        due[req.index] = req.dueMs;
        // halfway, the share halves: 1,000 -> 500 requests per second
        if (req.index === 29) share.set(2, 500);
      },
    });
    const gaps = due.slice(1).map((d, i) => Math.round((d - (due[i] as number)) * 1000) / 1000);
    expect(gaps.slice(0, 20).every((g) => g === 1)).toBe(true);
    expect(gaps.slice(-20).every((g) => g === 2)).toBe(true);
    expect(gaps.every((g) => g >= 1)).toBe(true);
  });

  it('a grown share plays more sessions at once, a shrunk one fewer', async () => {
    const share = new ScheduleShare(1, undefined);
    let inFlight = 0;
    const peaks: number[] = [];
    let started = 0;
    await scheduleSessions({
      source: traffic(120),
      workers: 99,
      timing: { mode: 'recorded', timeScale: 1e9, maxDelayMs: 0 },
      share,
      window: 50,
      sessionMemory: 10,
      clock: systemClock,
      signal: new AbortController().signal,
      play: async () => {
        const n = started++;
        if (n === 20) share.set(6, undefined);
        if (n === 70) share.set(2, undefined);
        inFlight++;
        const tenth = Math.floor(n / 10);
        peaks[tenth] = Math.max(peaks[tenth] ?? 0, inFlight);
        await new Promise((r) => setTimeout(r, 3));
        inFlight--;
      },
    });
    expect(started).toBe(120);
    // alone at first, six at once after the share grew, at most two once it shrank and the others drained
    expect(Math.max(...peaks.slice(0, 2))).toBe(1);
    expect(Math.max(...peaks.slice(4, 7))).toBe(6);
    expect(Math.max(...peaks.slice(9, 12))).toBeLessThanOrEqual(2);
  });
});
