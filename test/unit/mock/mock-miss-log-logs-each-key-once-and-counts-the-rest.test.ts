import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMissLog } from '../../../src/mock/miss-log.js';
import type { Clock } from '../../../src/core/clock.js';

function sink(level: 'info' | 'silent' = 'info') {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level }, stream), lines };
}

function manualClock(): Clock & { advance(ms: number): void } {
  let t = 1_000;
  return { now: () => t, monotonic: () => t, advance: (ms) => (t += ms) };
}

const fields = (url: string) => () => ({ method: 'GET', url });
const settle = () => new Promise((r) => setImmediate(r));

describe('miss log', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('logs the first miss of each key and counts repeats in one summary', async () => {
    const { log, lines } = sink();
    const clock = manualClock();
    const m = createMissLog({ log, clock, intervalMs: 60_000, linesPerInterval: 100 });
    for (let i = 0; i < 1000; i++) m.miss(`k${i % 3}`, fields(`/u${i % 3}`));
    m.flush();
    await settle();
    const misses = lines.filter((l) => l.msg === 'mock miss');
    expect(misses.map((l) => l.url)).toEqual(['/u0', '/u1', '/u2']);
    const summaries = lines.filter((l) => l.msg === 'mock misses not logged one by one');
    expect(summaries).toHaveLength(1);
    expect(summaries[0]).toMatchObject({ suppressed: 997, otherCalls: 0, intervalSeconds: 60 });
    expect(summaries[0]?.keys).toEqual([
      { method: 'GET', url: '/u0', count: 333 },
      { method: 'GET', url: '/u1', count: 332 },
      { method: 'GET', url: '/u2', count: 332 },
    ]);
    expect(m.stats()).toEqual({ logged: 3, suppressed: 997, summaries: 1 });
  });

  it('writes at most the per-interval lines in a storm of new keys, naming a few and counting all the others', async () => {
    const { log, lines } = sink();
    const clock = manualClock();
    const m = createMissLog({ log, clock, intervalMs: 10_000, linesPerInterval: 5, keysPerSummary: 2 });
    for (let i = 0; i < 5000; i++) m.miss(`k${i}`, fields(`/k${i}`));
    m.close();
    await settle();
    expect(lines.filter((l) => l.msg === 'mock miss')).toHaveLength(5);
    const [summary] = lines.filter((l) => l.msg === 'mock misses not logged one by one');
    expect(summary).toMatchObject({ suppressed: 4995, otherCalls: 4993 });
    expect(summary?.keys).toEqual([
      { method: 'GET', url: '/k5', count: 1 },
      { method: 'GET', url: '/k6', count: 1 },
    ]);
    expect(m.stats()).toEqual({ logged: 5, suppressed: 4995, summaries: 1 });
  });

  it('starts a new interval: the summary of the last one is written, new keys may log again', async () => {
    const { log, lines } = sink();
    const clock = manualClock();
    const m = createMissLog({ log, clock, intervalMs: 1_000, linesPerInterval: 1 });
    m.miss('a', fields('/a'));
    m.miss('b', fields('/b'));
    m.miss('a', fields('/a'));
    clock.advance(1_000);
    m.miss('b', fields('/b'));
    m.miss('a', fields('/a'));
    m.close();
    await settle();
    expect(lines.map((l) => [l.msg, l.url ?? l.suppressed])).toEqual([
      ['mock miss', '/a'],
      ['mock misses not logged one by one', 2],
      ['mock miss', '/b'],
      ['mock misses not logged one by one', 1],
    ]);
    expect(m.stats()).toEqual({ logged: 2, suppressed: 3, summaries: 2 });
  });

  it('writes the summary from its timer when the storm stops', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { log, lines } = sink();
    const m = createMissLog({ log, clock: manualClock(), intervalMs: 20, linesPerInterval: 1 });
    m.miss('a', fields('/a'));
    m.miss('a', fields('/a'));
    vi.advanceTimersByTime(19);
    expect(lines.filter((l) => l.msg === 'mock misses not logged one by one')).toHaveLength(0);
    vi.advanceTimersByTime(1);
    vi.useRealTimers();
    await settle();
    expect(lines.filter((l) => l.msg === 'mock misses not logged one by one').map((l) => l.suppressed)).toEqual([1]);
    m.close();
  });

  it('logs a key again once it has been forgotten', async () => {
    const { log, lines } = sink();
    const m = createMissLog({ log, clock: manualClock(), intervalMs: 60_000, keysRemembered: 2 });
    for (const k of ['a', 'b', 'c', 'a']) m.miss(k, fields(`/${k}`));
    m.close();
    await settle();
    expect(lines.filter((l) => l.msg === 'mock miss').map((l) => l.url)).toEqual(['/a', '/b', '/c', '/a']);
  });

  it('builds no line while the logger is silent, yet counts every miss', () => {
    const { log, lines } = sink('silent');
    const m = createMissLog({ log, clock: manualClock(), intervalMs: 60_000, linesPerInterval: 10 });
    let built = 0;
    for (let i = 0; i < 100; i++) {
      m.miss('k', () => {
        built++;
        return {};
      });
    }
    m.close();
    expect(built).toBe(0);
    expect(lines).toHaveLength(0);
    expect(m.stats()).toEqual({ logged: 1, suppressed: 99, summaries: 1 });
  });
});
