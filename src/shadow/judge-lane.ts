/**
 * Answers are judged on later turns, a bounded slice of time per turn, not in
 * the I/O callback that delivered them: a slow candidate answers in waves
 * (every slot freed at once), and judging a whole wave at once would stall
 * the primary's traffic.
 */

/** Time spent judging inline per event-loop turn before yielding to I/O. */
const JUDGE_SLICE_MS = 1;

export class JudgeLane {
  readonly #lane: Array<() => void> = [];
  #isScheduled = false;
  readonly #run = () => {
    this.#isScheduled = false;
    const until = performance.now() + JUDGE_SLICE_MS;
    let n = 0;
    while (this.#lane.length > 0) {
      (this.#lane.shift() as () => void)();
      if (++n % 4 === 0 && performance.now() >= until) break;
    }
    if (this.#lane.length > 0) this.#schedule();
  };

  push(fn: () => void): void {
    this.#lane.push(fn);
    if (!this.#isScheduled) this.#schedule();
  }

  #schedule(): void {
    this.#isScheduled = true;
    setImmediate(this.#run);
  }
}
