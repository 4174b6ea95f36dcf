/**
 * A tee's drain, shared by the HTTP and gRPC tees: wait until the last copy
 * is judged, or the deadline, whichever comes first; copies still queued then
 * are dropped as the tee says.
 */
export class IdleWaiters {
  readonly #isIdle: () => boolean;
  #waiters: Array<() => void> = [];

  constructor(isIdle: () => boolean) {
    this.#isIdle = isIdle;
  }

  /** Wakes the drain when the tee has gone idle: called whenever a copy leaves the queue, its slot or the judge. */
  check(): void {
    if (this.#waiters.length === 0 || !this.#isIdle()) return;
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  async drain<T>(queue: { poll(): T | undefined }, deadlineMs: number, dropQueued: () => void): Promise<void> {
    const idle = new Promise<void>((resolve) => {
      this.#waiters.push(resolve);
      this.check();
    });
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, deadlineMs);
    });
    await Promise.race([idle, expired]);
    clearTimeout(timer);
    for (let q = queue.poll(); q !== undefined; q = queue.poll()) dropQueued();
  }
}
