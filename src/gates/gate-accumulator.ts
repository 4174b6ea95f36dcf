/**
 * What a run's gates are computed from: counters and bounded latency sketches,
 * for the whole run and per endpoint, that merge by addition (a time bucket
 * into a window, N workers' states into one run).
 */
import { createLatencySketch, type LatencySketch, type SketchState } from './latency-sketch.js';
import type { EndpointStats, JudgedRequest, LatencySummary, MockCounts, Percentiles, RunCounts } from './types.js';

/** An accumulator's counters by name and its sketches' buckets. */
export interface AccumulatorState {
  c: Record<string, number>;
  s: Record<string, SketchState>;
}

export interface EvaluatorState {
  run: AccumulatorState;
  endpoints: Array<[string, AccumulatorState]>;
}

const RUN_COUNTERS = ['requests', 'answered', 'errors', 'statusPass', 'bodyMatch', 'mismatches', 'noise', 'newMismatches', 'unexpected5xx', 'fieldMatch', 'fieldMismatch', 'fieldIgnored', 'mockMatched', 'mockUnmatched', 'mockPassthrough'] as const;
const RUN_SKETCHES = ['baseline', 'candidate', 'pairedBaseline', 'pairedCandidate'] as const;
const ENDPOINT_COUNTERS = ['requests', 'errors', 'statusPass', 'bodyMatch', 'mismatches', 'noise', 'newMismatches', 'fieldMatch', 'fieldMismatch', 'fieldIgnored'] as const;
const ENDPOINT_SKETCHES = ['baseline', 'candidate'] as const;

type Counted<K extends string> = Record<K, number>;
type Sketched<K extends string> = Record<K, LatencySketch>;

function stateOf<C extends string, S extends string>(acc: Counted<C> & Sketched<S>, counters: readonly C[], sketches: readonly S[]): AccumulatorState {
  const c: Record<string, number> = {};
  const s: Record<string, SketchState> = {};
  for (const k of counters) c[k] = acc[k];
  for (const k of sketches) s[k] = acc[k].state();
  return { c, s };
}

function absorbInto<C extends string, S extends string>(acc: Counted<C> & Sketched<S>, state: AccumulatorState, counters: readonly C[], sketches: readonly S[]): void {
  const counts = acc as Counted<C>;
  for (const k of counters) counts[k] = counts[k] + (state.c[k] ?? 0);
  for (const k of sketches) {
    const sk = state.s[k];
    if (sk !== undefined) acc[k].absorb(sk);
  }
}

/** The comparison counters the whole run and each endpoint keep alike. */
interface OutcomeTally {
  fieldMatch: number;
  fieldMismatch: number;
  fieldIgnored: number;
  bodyMatch: number;
  noise: number;
  mismatches: number;
  newMismatches: number;
}

function tallyOutcome(t: OutcomeTally, j: JudgedRequest): void {
  const o = j.outcome;
  if (o === undefined || !j.isAnswered) return;
  t.fieldMatch += o.fields.match;
  t.fieldMismatch += o.fields.mismatch;
  t.fieldIgnored += o.fields.ignored;
  if (o.isBodyMatch) t.bodyMatch++;
  if (j.isNoise === true) t.noise++;
  if (!o.isMatch) {
    t.mismatches++;
    if (j.isKnownMismatch !== true) t.newMismatches++;
  }
}

/** Counters and sketches of a run or of one time bucket; merges by addition. */
export class GateAccumulator {
  requests = 0;
  answered = 0;
  errors = 0;
  statusPass = 0;
  bodyMatch = 0;
  mismatches = 0;
  noise = 0;
  newMismatches = 0;
  unexpected5xx = 0;
  fieldMatch = 0;
  fieldMismatch = 0;
  fieldIgnored = 0;
  mockMatched = 0;
  mockUnmatched = 0;
  mockPassthrough = 0;
  readonly baseline: LatencySketch = createLatencySketch();
  readonly candidate: LatencySketch = createLatencySketch();
  readonly pairedBaseline: LatencySketch = createLatencySketch();
  readonly pairedCandidate: LatencySketch = createLatencySketch();

  record(j: JudgedRequest): void {
    this.requests++;
    if (!j.isAnswered) this.errors++;
    else {
      this.answered++;
      if (j.candidateStatus === j.baselineStatus) this.statusPass++;
      if (j.candidateStatus !== undefined && j.candidateStatus >= 500 && j.baselineStatus < 500) this.unexpected5xx++;
    }
    tallyOutcome(this, j);
    if (j.baselineMs !== undefined) this.baseline.add(j.baselineMs);
    if (j.candidateMs !== undefined) this.candidate.add(j.candidateMs);
    if (j.baselineMs !== undefined && j.candidateMs !== undefined) {
      this.pairedBaseline.add(j.baselineMs);
      this.pairedCandidate.add(j.candidateMs);
    }
  }

  /** counters and sketch buckets as plain JSON, for another process to absorb */
  state(): AccumulatorState {
    return stateOf(this, RUN_COUNTERS, RUN_SKETCHES);
  }

  absorb(state: AccumulatorState): void {
    absorbInto(this, state, RUN_COUNTERS, RUN_SKETCHES);
  }

  addMock(delta: MockCounts): void {
    this.mockMatched += delta.matched;
    this.mockUnmatched += delta.unmatched;
    this.mockPassthrough += delta.passthrough;
  }

  merge(o: GateAccumulator): void {
    this.requests += o.requests;
    this.answered += o.answered;
    this.errors += o.errors;
    this.statusPass += o.statusPass;
    this.bodyMatch += o.bodyMatch;
    this.mismatches += o.mismatches;
    this.noise += o.noise;
    this.newMismatches += o.newMismatches;
    this.unexpected5xx += o.unexpected5xx;
    this.fieldMatch += o.fieldMatch;
    this.fieldMismatch += o.fieldMismatch;
    this.fieldIgnored += o.fieldIgnored;
    this.mockMatched += o.mockMatched;
    this.mockUnmatched += o.mockUnmatched;
    this.mockPassthrough += o.mockPassthrough;
    this.baseline.merge(o.baseline);
    this.candidate.merge(o.candidate);
    this.pairedBaseline.merge(o.pairedBaseline);
    this.pairedCandidate.merge(o.pairedCandidate);
  }

  reset(): void {
    this.requests = this.answered = this.errors = this.statusPass = this.bodyMatch = 0;
    this.mismatches = this.noise = this.newMismatches = this.unexpected5xx = 0;
    this.fieldMatch = this.fieldMismatch = this.fieldIgnored = 0;
    this.mockMatched = this.mockUnmatched = this.mockPassthrough = 0;
    this.baseline.reset();
    this.candidate.reset();
    this.pairedBaseline.reset();
    this.pairedCandidate.reset();
  }

  get mockTotal(): number {
    return this.mockMatched + this.mockUnmatched + this.mockPassthrough;
  }

  counts(): RunCounts {
    return {
      requests: this.requests,
      answered: this.answered,
      errors: this.errors,
      statusPass: this.statusPass,
      bodyMatch: this.bodyMatch,
      mismatches: this.mismatches,
      noise: this.noise,
      newMismatches: this.newMismatches,
      unexpected5xx: this.unexpected5xx,
      fields: { match: this.fieldMatch, mismatch: this.fieldMismatch, ignored: this.fieldIgnored },
      mock: { matched: this.mockMatched, unmatched: this.mockUnmatched, passthrough: this.mockPassthrough },
    };
  }

  latency(): LatencySummary {
    return {
      baseline: percentiles(this.baseline),
      candidate: percentiles(this.candidate),
      paired: { baseline: percentiles(this.pairedBaseline), candidate: percentiles(this.pairedCandidate) },
    };
  }
}

/** Where the latency distribution is sampled for reports: dense in the tail, where regressions show first. */
export const CDF_QUANTILES: readonly number[] = [0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.975, 0.99, 0.995, 0.999, 1];

export function percentiles(s: LatencySketch): Percentiles {
  const out: Percentiles = { count: s.count, p50: s.quantile(0.5), p95: s.quantile(0.95), p99: s.quantile(0.99) };
  const values = s.quantiles(CDF_QUANTILES);
  if (values !== undefined) out.cdf = CDF_QUANTILES.map((q, i) => [q, values[i] as number]);
  return out;
}

export class EndpointAccumulator {
  requests = 0;
  errors = 0;
  statusPass = 0;
  bodyMatch = 0;
  mismatches = 0;
  noise = 0;
  newMismatches = 0;
  fieldMatch = 0;
  fieldMismatch = 0;
  fieldIgnored = 0;
  readonly baseline = createLatencySketch();
  readonly candidate = createLatencySketch();

  record(j: JudgedRequest): void {
    this.requests++;
    if (!j.isAnswered) this.errors++;
    else if (j.candidateStatus === j.baselineStatus) this.statusPass++;
    tallyOutcome(this, j);
    if (j.baselineMs !== undefined) this.baseline.add(j.baselineMs);
    if (j.candidateMs !== undefined) this.candidate.add(j.candidateMs);
  }

  state(): AccumulatorState {
    return stateOf(this, ENDPOINT_COUNTERS, ENDPOINT_SKETCHES);
  }

  absorb(state: AccumulatorState): void {
    absorbInto(this, state, ENDPOINT_COUNTERS, ENDPOINT_SKETCHES);
  }

  stats(endpoint: string): EndpointStats {
    return {
      endpoint,
      requests: this.requests,
      errors: this.errors,
      statusPass: this.statusPass,
      bodyMatch: this.bodyMatch,
      mismatches: this.mismatches,
      noise: this.noise,
      newMismatches: this.newMismatches,
      fields: { match: this.fieldMatch, mismatch: this.fieldMismatch, ignored: this.fieldIgnored },
      latency: { baseline: percentiles(this.baseline), candidate: percentiles(this.candidate) },
    };
  }
}
