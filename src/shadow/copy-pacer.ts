/**
 * Copies are spread evenly at the rate the candidate can take them (in-flight
 * limit / its latency) instead of refilling every freed slot at once. Without
 * this a slow candidate settles into waves: all slots are sent together, all
 * answers come back together a latency later, and each wave's parsing, judging
 * and resending lands on the primary's requests of that millisecond.
 */

/**
 * Below this spacing between copies (ms) sending is not paced: a fast
 * candidate frees its slots one by one anyway.
 */
const MIN_PACED_GAP_MS = 0.25;
/** Weight of the newest candidate call in the latency average that sets the pace. */
const LATENCY_EWMA_WEIGHT = 0.1;

export class CopyPacer {
  readonly #maxInFlight: number;
  #latencyEwmaMs = 0;
  #nextSendAt = 0;

  constructor(maxInFlight: number) {
    this.#maxInFlight = maxInFlight;
  }

  /** one candidate call took this long (ms) */
  note(ms: number): void {
    this.#latencyEwmaMs = this.#latencyEwmaMs === 0 ? ms : this.#latencyEwmaMs + LATENCY_EWMA_WEIGHT * (ms - this.#latencyEwmaMs);
  }

  /**
   * Copies leave the queue at about maxInFlight per candidate latency, so a new copy
   * waits for the copies ahead of it that free slots do not take at once, one gap each.
   * Before the first answer nothing is known and only the item bound applies.
   */
  wouldWaitLonger(ahead: number, maxWaitMs: number): boolean {
    return ahead >= 0 && ((ahead + 1) * this.#latencyEwmaMs) / this.#maxInFlight > maxWaitMs;
  }

  /**
   * 0 when a copy may go now (and takes its turn), else how long (ms) until the next one may.
   */
  delayBeforeSend(now: number): number {
    const gap = this.#latencyEwmaMs / this.#maxInFlight;
    if (gap < MIN_PACED_GAP_MS) return 0;
    if (now < this.#nextSendAt) return this.#nextSendAt - now;
    // A late timer may catch up by a couple of copies, never by a burst.
    this.#nextSendAt = Math.max(this.#nextSendAt, now - 2 * gap) + gap;
    return 0;
  }
}
