/**
 * Fixed-bucket histogram of scheduling lag (actual send time minus the time
 * the schedule asked for): 0.1 ms buckets up to 10 s, constant memory,
 * no allocation per sample.
 */
const BUCKET_MS = 0.1;
const BUCKETS = 100_000;

export class LagHistogram {
  readonly #counts = new Uint32Array(BUCKETS + 1);
  #n = 0;
  #max = 0;
  #sum = 0;

  record(ms: number): void {
    const v = ms < 0 ? -ms : ms;
    const i = Math.min(BUCKETS, Math.floor(v / BUCKET_MS));
    this.#counts[i] = (this.#counts[i] ?? 0) + 1;
    this.#n++;
    this.#sum += v;
    if (v > this.#max) this.#max = v;
  }

  get count(): number {
    return this.#n;
  }

  get max(): number {
    return this.#max;
  }

  get mean(): number {
    return this.#n === 0 ? 0 : this.#sum / this.#n;
  }

  /** upper edge of the bucket holding quantile q (0..1) */
  quantile(q: number): number {
    if (this.#n === 0) return 0;
    const rank = Math.ceil(q * this.#n);
    let seen = 0;
    for (let i = 0; i <= BUCKETS; i++) {
      seen += this.#counts[i] ?? 0;
      if (seen >= rank) return i === BUCKETS ? this.#max : Math.min(this.#max, (i + 1) * BUCKET_MS);
    }
    return this.#max;
  }
}
