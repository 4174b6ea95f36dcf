import { describe, expect, it } from 'vitest';
import { RecentMap } from '../../../src/core/recent-map.js';

describe('RecentMap keeps the last keys set, the oldest let go of first', () => {
  it('holds at most its capacity, and lets go of the first set', () => {
    const m = new RecentMap<string, number>(3);
    for (const [i, k] of ['a', 'b', 'c', 'd'].entries()) m.set(k, i);
    expect(m.size).toBe(3);
    expect(m.has('a')).toBe(false);
    expect([m.get('b'), m.get('c'), m.get('d')]).toEqual([1, 2, 3]);
  });

  it('a key set again keeps its place and takes the new value; a read does not refresh it', () => {
    const m = new RecentMap<string, number>(2);
    m.set('a', 1);
    m.set('b', 2);
    m.set('a', 10);
    expect(m.get('a')).toBe(10);
    m.set('c', 3);
    // 'a' was set first, so it goes first, though it was set again and read since
    expect(m.has('a')).toBe(false);
    expect(m.get('b')).toBe(2);
    expect(m.get('c')).toBe(3);
  });

  it('a key let go of and set again is held anew', () => {
    const m = new RecentMap<number, true>(2);
    for (const k of [1, 2, 3, 1]) m.set(k, true);
    expect([m.has(1), m.has(2), m.has(3)]).toEqual([true, false, true]);
    expect(m.size).toBe(2);
  });
});
