/**
 * Learned noise (the Diffy idea): the first N requests of each endpoint go to
 * the baseline twice, and the fields that disagree with themselves are noise.
 *
 * Whether a candidate mismatch on such a field is still noise or a regression
 * is decided per endpoint and path by comparing two mismatch rates, the
 * baseline's self-disagreement and the candidate-vs-baseline disagreement:
 * regression when the Wilson score interval of the candidate rate lies wholly
 * above that of the self rate at the configured confidence (Wilson 1927;
 * Agresti & Coull 1998 for why Wilson over the normal approximation at small n).
 */
import { generalizePath } from '../core/json-path.js';
import type { CompareOutcome, FieldDiff } from './types.js';

export interface NoiseLearnerOptions {
  /** self-comparisons wanted per endpoint (compare.learn_noise) */
  samplesPerEndpoint: number;
  /** two-sided confidence of the Wilson intervals (compare.noise_confidence) */
  confidence: number;
  maxEndpoints?: number;
  maxPathsPerEndpoint?: number;
  /** sample value pairs kept per path as evidence */
  maxSampleValues?: number;
}

export interface LearnedNoise {
  endpoint: string;
  /** the path with array indices folded: $.items[*].updatedAt */
  path: string;
  /** self-comparisons of the endpoint, and how many disagreed on this path */
  selfSamples: number;
  selfMismatches: number;
  selfRate: number;
  candidateSamples: number;
  candidateMismatches: number;
  candidateRate: number;
  /** noise: candidate mismatches here are excused; regression: the candidate disagrees significantly more */
  decision: 'noise' | 'regression';
  /** value pairs seen in self-comparisons */
  samples: Array<{ expected?: unknown; actual?: unknown }>;
}

export type JudgedResult = 'match' | 'mismatch' | 'noise';

export interface NoiseLearner {
  /** true while the endpoint still wants self-comparison samples */
  wantsSample(endpoint: string): boolean;
  /** records the outcome of comparing the baseline with itself (a second call or a secondary) */
  observe(endpoint: string, selfOutcome: CompareOutcome): void;
  /** true when differences at this path of this endpoint are noise (path concrete or generalized) */
  isNoise(endpoint: string, path: string): boolean;
  /**
   * Records a candidate outcome and returns it with noise taken out: noise
   * diffs are dropped and counted as ignored fields. `noise` when noise
   * was all that differed.
   */
  judge(endpoint: string, outcome: CompareOutcome): { result: JudgedResult; outcome: CompareOutcome };
  learned(): LearnedNoise[];
  /** the counts behind every decision, as plain JSON for another process to absorb */
  evidence(): NoiseEvidence;
  /** adds another learner's evidence; decisions are taken again over the sums */
  absorb(evidence: NoiseEvidence): void;
}

/** Per endpoint: self and candidate sample counts, and per path the disagreements and value samples. */
export type NoiseEvidence = Array<{
  endpoint: string;
  selfSamples: number;
  candidateSamples: number;
  paths: Array<{ path: string; self: number; candidate: number; samples: Array<{ expected?: unknown; actual?: unknown }> }>;
}>;

interface PathStats {
  self: number;
  candidate: number;
  samples: Array<{ expected?: unknown; actual?: unknown }>;
}

interface EndpointStats {
  selfSamples: number;
  candidateSamples: number;
  paths: Map<string, PathStats>;
}

/** Wilson score interval of k successes in n trials at normal quantile z. */
export function wilsonInterval(k: number, n: number, z: number): { low: number; high: number } {
  if (n === 0) return { low: 0, high: 1 };
  const p = k / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom;
  return { low: Math.max(0, center - half), high: Math.min(1, center + half) };
}

/**
 * Quantile of the standard normal distribution (Acklam's rational
 * approximation, relative error below 1.2e-9).
 */
export function normalQuantile(p: number): number {
  if (p <= 0) return -Infinity;
  if (p >= 1) return Infinity;
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const pLow = 0.02425;
  const at = (arr: number[], i: number) => arr[i] as number;
  if (p < pLow) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((at(c, 0) * q + at(c, 1)) * q + at(c, 2)) * q + at(c, 3)) * q + at(c, 4)) * q + at(c, 5)) / ((((at(d, 0) * q + at(d, 1)) * q + at(d, 2)) * q + at(d, 3)) * q + 1);
  }
  if (p > 1 - pLow) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((at(a, 0) * r + at(a, 1)) * r + at(a, 2)) * r + at(a, 3)) * r + at(a, 4)) * r + at(a, 5)) * q) /
    (((((at(b, 0) * r + at(b, 1)) * r + at(b, 2)) * r + at(b, 3)) * r + at(b, 4)) * r + 1)
  );
}

/**
 * Regression when the candidate's mismatch rate is significantly above the
 * baseline's self-disagreement rate: the intervals do not overlap.
 */
export function isRegression(selfK: number, selfN: number, candK: number, candN: number, confidence: number): boolean {
  const z = normalQuantile(1 - (1 - confidence) / 2);
  return wilsonInterval(candK, candN, z).low > wilsonInterval(selfK, selfN, z).high;
}

export function createNoiseLearner(opts: NoiseLearnerOptions): NoiseLearner {
  const endpoints = new Map<string, EndpointStats>();
  const maxEndpoints = opts.maxEndpoints ?? 1000;
  const maxPaths = opts.maxPathsPerEndpoint ?? 200;
  const maxSampleValues = opts.maxSampleValues ?? 3;

  const statsOf = (endpoint: string, create: boolean): EndpointStats | undefined => {
    let s = endpoints.get(endpoint);
    if (s === undefined && create && endpoints.size < maxEndpoints) {
      s = { selfSamples: 0, candidateSamples: 0, paths: new Map() };
      endpoints.set(endpoint, s);
    }
    return s;
  };

  const decide = (s: EndpointStats, p: PathStats): 'noise' | 'regression' =>
    isRegression(p.self, s.selfSamples, p.candidate, s.candidateSamples, opts.confidence) ? 'regression' : 'noise';

  const noisePath = (s: EndpointStats | undefined, key: string): PathStats | undefined => {
    const p = s?.paths.get(key);
    return p !== undefined && p.self > 0 ? p : undefined;
  };

  const isNoiseKey = (s: EndpointStats | undefined, key: string): boolean => {
    const p = noisePath(s, key);
    return p !== undefined && s !== undefined && decide(s, p) === 'noise';
  };

  return {
    wantsSample(endpoint) {
      const s = endpoints.get(endpoint);
      if (s === undefined) return opts.samplesPerEndpoint > 0 && endpoints.size < maxEndpoints;
      return s.selfSamples < opts.samplesPerEndpoint;
    },

    observe(endpoint, selfOutcome) {
      const s = statsOf(endpoint, true);
      if (s === undefined) return;
      s.selfSamples++;
      const seen = new Set<string>();
      for (const d of selfOutcome.diffs) {
        const key = generalizePath(d.path);
        if (seen.has(key)) continue;
        seen.add(key);
        let p = s.paths.get(key);
        if (p === undefined) {
          if (s.paths.size >= maxPaths) continue;
          p = { self: 0, candidate: 0, samples: [] };
          s.paths.set(key, p);
        }
        p.self++;
        if (p.samples.length < maxSampleValues) p.samples.push(sampleOf(d));
      }
    },

    isNoise(endpoint, path) {
      return isNoiseKey(endpoints.get(endpoint), generalizePath(path));
    },

    judge(endpoint, outcome) {
      const s = endpoints.get(endpoint);
      if (s !== undefined) s.candidateSamples++;
      if (outcome.isMatch) return { result: 'match', outcome };
      if (s === undefined || s.paths.size === 0) return { result: 'mismatch', outcome };
      const seen = new Set<string>();
      for (const d of outcome.diffs) {
        const key = generalizePath(d.path);
        if (seen.has(key)) continue;
        seen.add(key);
        const p = noisePath(s, key);
        if (p !== undefined) p.candidate++;
      }
      const kept: FieldDiff[] = [];
      let dropped = 0;
      for (const d of outcome.diffs) {
        if (isNoiseKey(s, generalizePath(d.path))) dropped++;
        else kept.push(d);
      }
      if (dropped === 0) return { result: 'mismatch', outcome };
      const isComplete = (outcome.omittedDiffs ?? 0) === 0;
      const isAllNoise = kept.length === 0 && isComplete;
      const isStatusMatch = outcome.isStatusMatch || !kept.some((d) => d.kind === 'status');
      const isBodyMatch = outcome.isBodyMatch || (isComplete && !kept.some((d) => d.path.startsWith('$')));
      const adjusted: CompareOutcome = {
        isMatch: isAllNoise,
        isStatusMatch,
        isBodyMatch,
        fields: { match: outcome.fields.match, mismatch: outcome.fields.mismatch - dropped, ignored: outcome.fields.ignored + dropped },
        diffs: kept,
        flags: [...outcome.flags, 'noise'],
      };
      if (outcome.omittedDiffs !== undefined) adjusted.omittedDiffs = outcome.omittedDiffs;
      return { result: isAllNoise ? 'noise' : 'mismatch', outcome: adjusted };
    },

    learned() {
      const out: LearnedNoise[] = [];
      for (const [endpoint, s] of endpoints) {
        for (const [path, p] of s.paths) {
          if (p.self === 0) continue;
          out.push({
            endpoint,
            path,
            selfSamples: s.selfSamples,
            selfMismatches: p.self,
            selfRate: s.selfSamples === 0 ? 0 : p.self / s.selfSamples,
            candidateSamples: s.candidateSamples,
            candidateMismatches: p.candidate,
            candidateRate: s.candidateSamples === 0 ? 0 : p.candidate / s.candidateSamples,
            decision: decide(s, p),
            samples: p.samples,
          });
        }
      }
      return out.sort((a, b) => a.endpoint.localeCompare(b.endpoint) || b.selfRate - a.selfRate || a.path.localeCompare(b.path));
    },

    evidence() {
      return [...endpoints].map(([endpoint, s]) => ({
        endpoint,
        selfSamples: s.selfSamples,
        candidateSamples: s.candidateSamples,
        paths: [...s.paths].map(([path, p]) => ({ path, self: p.self, candidate: p.candidate, samples: p.samples })),
      }));
    },

    absorb(evidence) {
      for (const e of evidence) {
        const s = statsOf(e.endpoint, true);
        if (s === undefined) continue;
        s.selfSamples += e.selfSamples;
        s.candidateSamples += e.candidateSamples;
        for (const ep of e.paths) {
          let p = s.paths.get(ep.path);
          if (p === undefined) {
            if (s.paths.size >= maxPaths) continue;
            p = { self: 0, candidate: 0, samples: [] };
            s.paths.set(ep.path, p);
          }
          p.self += ep.self;
          p.candidate += ep.candidate;
          for (const v of ep.samples) if (p.samples.length < maxSampleValues) p.samples.push(v);
        }
      }
    },
  };
}

function sampleOf(d: FieldDiff): { expected?: unknown; actual?: unknown } {
  const out: { expected?: unknown; actual?: unknown } = {};
  if (d.expected !== undefined) out.expected = d.expected;
  if (d.actual !== undefined) out.actual = d.actual;
  return out;
}
