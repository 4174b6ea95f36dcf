import { describe, expect, it } from 'vitest';
import { DueTimer } from '../../../src/replay/due-timer.js';

describe('DueTimer', () => {
  it('wakes waiters in due order, never before their due time, with one timer for all', async () => {
    const now = () => performance.now();
    const timer = new DueTimer(now);
    const t0 = now();
    const order: number[] = [];
    const early: number[] = [];
    const dues = [30, 5, 20, 5, 1, 12, 40, 2];
    await Promise.all(
      dues.map((d, i) =>
        timer.wait(t0 + d).then(() => {
          order.push(i);
          if (now() < t0 + d) early.push(i);
        }),
      ),
    );
    const wokenDues = order.map((i) => dues[i] as number);
    expect(wokenDues).toEqual([...wokenDues].sort((a, b) => a - b));
    expect(early).toEqual([]);
    expect(timer.size).toBe(0);
  });

  it('wakes every waiter at once on cancelAll', async () => {
    const timer = new DueTimer(() => performance.now(), 0.5);
    const far = performance.now() + 60_000;
    const woken = Promise.all([timer.wait(far), timer.wait(far + 1), timer.wait(far - 1)]);
    expect(timer.size).toBe(3);
    timer.cancelAll();
    await woken;
    expect(timer.size).toBe(0);
  });
});
