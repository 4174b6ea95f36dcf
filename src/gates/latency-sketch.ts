/**
 * A bounded quantile sketch for durations: a log-bucket histogram with about
 * 1% relative error (the DDSketch construction: bucket i holds values in
 * (min·γ^(i-1), min·γ^i] with γ = 1.02). Memory is fixed (~4.7 KB) however many
 * values it sees, and two sketches merge by adding counts, which is what the
 * windowed gate evaluator needs. The state is the bucket counts themselves,
 * so a sketch rebuilt from another process's state merges exactly: N workers'
 * sketches add up to the sketch one process would have built.
 */

const GAMMA = 1.02;
const LOG_GAMMA = Math.log(GAMMA);
/** smallest distinguished duration: 1 µs */
const MIN_MS = 0.001;
/** largest distinguished duration: about 2.8 hours; longer values land in the last bucket */
const MAX_MS = 1e7;
const BUCKETS = Math.ceil(Math.log(MAX_MS / MIN_MS) / LOG_GAMMA) + 2;

export interface LatencySketch {
  readonly count: number;
  add(ms: number): void;
  /** the q-quantile (0..1) in milliseconds, or undefined when empty */
  quantile(q: number): number | undefined;
  /** the quantiles `qs` (ascending, 0..1) in one pass, or undefined when empty */
  quantiles(qs: readonly number[]): number[] | undefined;
  merge(other: LatencySketch): void;
  reset(): void;
  /** the non-empty buckets, for another process to merge */
  state(): SketchState;
  /** adds a state's counts (another sketch's, possibly from another process) */
  absorb(state: SketchState): void;
}

/** Non-empty buckets as [index, count] pairs: plain JSON, exact. */
export interface SketchState {
  n: number;
  b: Array<[number, number]>;
}

/** relative accuracy of quantile(): (γ-1)/(γ+1) */
export const SKETCH_RELATIVE_ERROR = (GAMMA - 1) / (GAMMA + 1);

/** the value reported for bucket i: the point of least relative error in its range */
function bucketValue(i: number): number {
  return i === 0 ? MIN_MS : (2 * MIN_MS * Math.pow(GAMMA, i)) / (GAMMA + 1);
}

export function createLatencySketch(): LatencySketch {
  return new LogBucketSketch();
}

class LogBucketSketch implements LatencySketch {
  count = 0;
  readonly counts = new Float64Array(BUCKETS);

  add(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    let i: number;
    if (ms <= MIN_MS) i = 0;
    else {
      i = Math.ceil(Math.log(ms / MIN_MS) / LOG_GAMMA);
      if (i >= BUCKETS) i = BUCKETS - 1;
    }
    this.counts[i] = (this.counts[i] as number) + 1;
    this.count++;
  }

  quantile(q: number): number | undefined {
    if (this.count === 0) return undefined;
    const rank = Math.min(Math.max(q, 0), 1) * (this.count - 1);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i] as number;
      if (seen > rank) return bucketValue(i);
    }
    return MAX_MS;
  }

  quantiles(qs: readonly number[]): number[] | undefined {
    if (this.count === 0) return undefined;
    const out: number[] = [];
    let seen = 0;
    let i = 0;
    for (const q of qs) {
      const rank = Math.min(Math.max(q, 0), 1) * (this.count - 1);
      while (i < BUCKETS && seen + (this.counts[i] as number) <= rank) seen += this.counts[i++] as number;
      out.push(i >= BUCKETS ? MAX_MS : bucketValue(i));
    }
    return out;
  }

  merge(other: LatencySketch): void {
    if (!(other instanceof LogBucketSketch)) throw new TypeError('can only merge sketches of the same kind');
    for (let i = 0; i < BUCKETS; i++) this.counts[i] = (this.counts[i] as number) + (other.counts[i] as number);
    this.count += other.count;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
  }

  state(): SketchState {
    const b: Array<[number, number]> = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i] !== 0) b.push([i, this.counts[i] as number]);
    return { n: this.count, b };
  }

  absorb(state: SketchState): void {
    for (const [i, c] of state.b) {
      if (!Number.isInteger(i) || i < 0 || i >= BUCKETS || !(c >= 0)) throw new TypeError(`latency sketch state: bad bucket [${i}, ${c}]`);
      this.counts[i] = (this.counts[i] as number) + c;
    }
    this.count += state.n;
  }
}
