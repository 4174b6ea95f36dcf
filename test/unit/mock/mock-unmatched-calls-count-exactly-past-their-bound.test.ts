import { describe, expect, it } from 'vitest';
import { createUnmatchedCalls } from '../../../src/mock/unmatched-calls.js';
import type { UnmatchedCall } from '../../../src/mock/unmatched-calls.js';

const call = (url: string) => (): UnmatchedCall => ({ service: 's', protocol: 'http', at: '', request: { method: 'GET', url } });

describe('unmatched calls', () => {
  it('keeps one entry per key with its exact count, first and last time', () => {
    const u = createUnmatchedCalls(10);
    let built = 0;
    for (let i = 0; i < 1000; i++) {
      u.record(`k${i % 2}`, 1_000 + i, () => {
        built++;
        return call(`/u${i % 2}`)();
      });
    }
    expect(built).toBe(2);
    expect(u.list()).toEqual([
      { service: 's', protocol: 'http', request: { method: 'GET', url: '/u0' }, count: 500, firstAt: new Date(1_000).toISOString(), at: new Date(1_998).toISOString() },
      { service: 's', protocol: 'http', request: { method: 'GET', url: '/u1' }, count: 500, firstAt: new Date(1_001).toISOString(), at: new Date(1_999).toISOString() },
    ]);
    expect(u.overflow()).toBe(0);
  });

  it('lets the least recently missed key give way and adds its calls to overflow, so the sum stays exact', () => {
    const u = createUnmatchedCalls(3);
    let total = 0;
    for (let i = 0; i < 5000; i++) {
      // a few hot keys and a long tail of new ones
      const key = i % 3 === 0 ? 'hot' : `tail${i}`;
      u.record(key, i, call(`/${key}`));
      total++;
    }
    const listed = u.list();
    expect(listed).toHaveLength(3);
    expect(listed.map((c) => c.request.url)).toContain('/hot');
    expect(listed.reduce((n, c) => n + (c.count ?? 0), 0) + u.overflow()).toBe(total);
    expect(listed.find((c) => c.request.url === '/hot')?.count).toBe(1667);
  });

  it('refuses a bound that is not a positive integer', () => {
    expect(() => createUnmatchedCalls(0)).toThrow(/positive integer, got 0/);
    expect(() => createUnmatchedCalls(1.5)).toThrow(/positive integer, got 1.5/);
  });
});
