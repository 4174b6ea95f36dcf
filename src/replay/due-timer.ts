/**
 * Wakes waiters at their due time (monotonic ms) with one armed timer for
 * the earliest of them, whatever the number of waiters.
 *
 * Node timers count whole milliseconds from a cached loop time, so a timer
 * may fire up to about a millisecond before the performance.now() instant it
 * was meant for. A wake that comes early by less than `spinMs` finishes with
 * setImmediate turns (I/O still runs between them); a wake further off
 * re-arms the timer. Nothing polls while no waiter is due within `spinMs`.
 */
export class DueTimer {
  /** min-heap of due times, with the resolver of each at the same index */
  readonly #due: number[] = [];
  readonly #wake: Array<() => void> = [];
  readonly #now: () => number;
  readonly #spinMs: number;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  #isSpinning = false;
  readonly #onTimer = () => {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    this.#release();
  };
  readonly #onImmediate = () => {
    this.#isSpinning = false;
    this.#release();
  };

  constructor(now: () => number, spinMs = 1) {
    this.#now = now;
    this.#spinMs = spinMs;
  }

  get size(): number {
    return this.#due.length;
  }

  /** resolves at `due` (or at once when it has passed, or on cancelAll) */
  wait(due: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#push(due, resolve);
      this.#arm();
    });
  }

  /** wakes every waiter now */
  cancelAll(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const wake = this.#wake.splice(0);
    this.#due.length = 0;
    for (const w of wake) w();
  }

  #release(): void {
    const now = this.#now();
    while (this.#due.length > 0 && (this.#due[0] as number) <= now) (this.#pop() as () => void)();
    this.#arm();
  }

  #arm(): void {
    if (this.#due.length === 0 || this.#isSpinning) return;
    const first = this.#due[0] as number;
    const wait = first - this.#now();
    if (wait <= 0 || wait < this.#spinMs) {
      this.#isSpinning = true;
      setImmediate(this.#onImmediate);
      return;
    }
    if (this.#timer !== undefined) {
      if (this.#timerAt <= first) return;
      clearTimeout(this.#timer);
    }
    this.#timerAt = first;
    this.#timer = setTimeout(this.#onTimer, Math.max(1, Math.round(wait)));
  }

  #push(due: number, wake: () => void): void {
    const d = this.#due;
    const w = this.#wake;
    let i = d.length;
    d.push(due);
    w.push(wake);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if ((d[p] as number) <= due) break;
      d[i] = d[p] as number;
      w[i] = w[p] as () => void;
      i = p;
    }
    d[i] = due;
    w[i] = wake;
  }

  #pop(): (() => void) | undefined {
    const d = this.#due;
    const w = this.#wake;
    const top = w[0];
    const lastDue = d.pop() as number;
    const lastWake = w.pop() as () => void;
    const n = d.length;
    if (n === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && (d[r] as number) < (d[l] as number) ? r : l;
      if ((d[c] as number) >= lastDue) break;
      d[i] = d[c] as number;
      w[i] = w[c] as () => void;
      i = c;
    }
    d[i] = lastDue;
    w[i] = lastWake;
    return top;
  }
}
