import { describe, expect, it } from 'vitest';
import { decodeTime } from 'ulid';
import { newExchangeId, newRunId } from '../../../src/core/ids.js';

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

describe('exchange ids', () => {
  it('are ULIDs carrying the millisecond they were minted for', () => {
    const t = Date.UTC(2030, 0, 1, 12, 0, 0, 123);
    const id = newExchangeId(t);
    expect(id).toMatch(ULID);
    expect(decodeTime(id)).toBe(t);
    expect(decodeTime(newExchangeId(t + 1000))).toBe(t + 1000);
    expect(newRunId(t + 2000)).toMatch(/^run-[0-9a-hjkmnp-tv-z]{26}$/);
  });

  it('sort in minting order within a millisecond and when time goes back', () => {
    const t = Date.UTC(2031, 5, 1);
    const ids = [newExchangeId(t), newExchangeId(t), newExchangeId(t - 5), newExchangeId(t), newExchangeId(t + 1), newExchangeId(t)];
    for (let i = 1; i < ids.length; i++) expect((ids[i - 1] as string) < (ids[i] as string)).toBe(true);
    // An earlier or equal millisecond reuses the last one's time.
    expect(ids.slice(0, 4).map((id) => decodeTime(id))).toEqual([t, t, t, t]);
    expect(decodeTime(ids[5] as string)).toBe(t + 1);
  });

  it('stay in order across the carry out of the last four random digits', () => {
    const t = Date.UTC(2032, 0, 1);
    let prev = newExchangeId(t);
    let carries = 0;
    for (let i = 0; i < (1 << 20) + 8; i++) {
      const id = newExchangeId(t);
      if (id <= prev) throw new Error(`${id} after ${prev}`);
      if (id.slice(0, 22) !== prev.slice(0, 22)) carries++;
      prev = id;
    }
    expect(carries).toBe(1);
    expect(decodeTime(prev)).toBe(t);
  });

  it('draw fresh random digits for each new millisecond', () => {
    const t = Date.UTC(2033, 0, 1);
    const randomParts = new Set<string>();
    for (let i = 0; i < 200; i++) randomParts.add(newExchangeId(t + i).slice(10));
    expect(randomParts.size).toBe(200);
    // Every digit of the alphabet shows up across the random parts.
    expect(new Set([...randomParts].join('')).size).toBe(32);
  });

  it('refuse a time outside what an id can carry as bad input', () => {
    expect(() => newExchangeId(-1)).toThrow(expect.objectContaining({ code: 'DOPPEL_INPUT_INVALID' }));
    expect(() => newExchangeId(2 ** 48)).toThrow(expect.objectContaining({ code: 'DOPPEL_INPUT_INVALID' }));
    expect(() => newExchangeId(1.5)).toThrow(expect.objectContaining({ code: 'DOPPEL_INPUT_INVALID' }));
  });
});
