import { describe, expect, it } from 'vitest';
import { BoundedQueue } from '../../../src/core/bounded-queue.js';

describe('BoundedQueue', () => {
  it('refuses items beyond its item cap and keeps FIFO order', () => {
    const q = new BoundedQueue<number>(3);
    expect([q.offer(1), q.offer(2), q.offer(3), q.offer(4)]).toEqual([true, true, true, false]);
    expect(q.poll()).toBe(1);
    expect(q.offer(5)).toBe(true);
    expect(q.drain()).toEqual([2, 3, 5]);
    expect(q.length).toBe(0);
  });

  it('refuses items beyond its byte cap and frees bytes when polled', () => {
    const q = new BoundedQueue<string>(10, 100);
    expect(q.offer('a', 60)).toBe(true);
    expect(q.offer('b', 50)).toBe(false);
    expect(q.bytes).toBe(60);
    q.poll();
    expect(q.bytes).toBe(0);
    expect(q.offer('b', 50)).toBe(true);
  });

  it('peeks at the oldest item across the ring wrap without removing it', () => {
    const q = new BoundedQueue<number>(2);
    expect(q.peek()).toBeUndefined();
    q.offer(1);
    q.offer(2);
    q.poll();
    q.offer(3);
    expect(q.peek()).toBe(2);
    expect(q.length).toBe(2);
    q.poll();
    expect(q.peek()).toBe(3);
  });

  it('rejects a non-positive capacity', () => {
    expect(() => new BoundedQueue(0)).toThrow(RangeError);
  });
});
