import { describe, expect, it } from 'vitest';
import { isoTime } from '../../../src/core/iso-time.js';

describe('isoTime', () => {
  it('gives the text of new Date(ms).toISOString() for every millisecond, reused or not', () => {
    const base = Date.UTC(2026, 11, 31, 23, 59, 59, 998);
    // Fractions of one millisecond, then the next ones across a second, minute, year boundary.
    for (const ms of [base, base + 0.25, base + 0.999, base + 1, base + 1.5, base + 2, base + 2.1, base + 3, base]) {
      expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    }
  });

  it('builds a millisecond from the last second`s text, in any order, as Date would write it', () => {
    const second = Date.UTC(2026, 11, 31, 23, 59, 59);
    const order = [999, 0, 9, 10, 99, 100, 101, 500, 1, 998, 0];
    for (const base of [second, Date.UTC(1969, 11, 31, 23, 59, 59), Date.UTC(12026, 0, 1), Date.UTC(-2, 5, 1)]) {
      for (const m of order) expect(isoTime(base + m)).toBe(new Date(base + m).toISOString());
    }
  });

  it('throws past the last time Date can format even when the second before it was formatted', () => {
    expect(isoTime(8.64e15)).toBe(new Date(8.64e15).toISOString());
    expect(() => isoTime(8.64e15 + 1)).toThrow(RangeError);
    expect(isoTime(-8.64e15)).toBe(new Date(-8.64e15).toISOString());
    expect(() => isoTime(-8.64e15 - 1)).toThrow(RangeError);
  });

  it('handles times before 1970 as Date does (truncation, not flooring)', () => {
    for (const ms of [-1.5, -1, -0.5, 0, 0.5]) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
  });

  it('throws on a time Date cannot format, every time it is asked', () => {
    expect(() => isoTime(Number.NaN)).toThrow(RangeError);
    expect(() => isoTime(Number.NaN)).toThrow(RangeError);
    expect(() => isoTime(8.64e15 + 1)).toThrow(RangeError);
  });
});
