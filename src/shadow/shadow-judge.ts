/**
 * The streaming judge of shadow mode: each candidate response is compared
 * with the primary's as soon as both are complete. Small pairs are compared
 * inline (cheaper than a thread hop); pairs whose bodies together exceed
 * `inlineMaxBytes` (a compressed body weighs what it likely inflates to: it
 * is decoded where it is compared) go to the worker pool, and are dropped
 * and counted when it is saturated. Results feed the metrics, a windowed gate evaluator (live
 * values), a cumulative one (the report) and a bounded ring of diff samples.
 */
import type { Comparator, CompareOutcome, FieldDiff, ResponseSample } from '../compare/types.js';
import type { NoiseLearner } from '../compare/noise.js';
import type { GateEvaluator, WindowedGateEvaluator } from '../gates/gate-evaluator.js';
import type { RunMetrics } from '../gates/run-metrics.js';
import type { JudgedRequest } from '../gates/types.js';
import { contentEncodingOf } from '../core/content-coding.js';
import type { Logger } from '../core/logger.js';
import type { JudgePool } from './judge-pool.js';
import type { ShadowReport } from './shadow-report.js';
import type { OutboundCall, OutboundDiff, ShadowDropReason } from './types.js';

export interface JudgePair {
  id: string;
  at: number;
  method: string;
  url: string;
  endpoint: string;
  baseline: ResponseSample;
  candidate: ResponseSample;
  /** the secondary's answer to the same request (noise learning) */
  secondary?: ResponseSample | undefined;
  /** downstream calls of the primary and of the candidate for this request (live mocks) */
  outbound?: { primary: OutboundCall[]; candidate: OutboundCall[] } | undefined;
}

export interface DiffSample {
  id: string;
  at: string;
  endpoint: string;
  method: string;
  url: string;
  result: 'mismatch' | 'error' | 'outbound';
  baselineStatus: number;
  candidateStatus: number | undefined;
  baselineMs: number | undefined;
  candidateMs: number | undefined;
  diffs: FieldDiff[];
  omittedDiffs?: number;
  outbound?: OutboundDiff[];
  error?: string;
}

export interface OutboundSummary {
  endpoint: string;
  service: string;
  key: string;
  /** requests where the candidate's count of this call differed from the primary's */
  requests: number;
  /** summed difference candidate - primary over those requests */
  extraCalls: number;
  /** a sentence a person reads: "candidate issued 3 more calls of db SELECT ... on GET /orders/:id" */
  message: string;
}

export interface ShadowJudgeOptions {
  comparator: Comparator;
  pool: JudgePool | undefined;
  /** pairs whose two bodies together are larger go to the pool */
  inlineMaxBytes: number;
  noise: NoiseLearner | undefined;
  windowed: WindowedGateEvaluator;
  total: GateEvaluator;
  metrics: RunMetrics;
  drop: (reason: ShadowDropReason) => void;
  maxSamples: number;
  /** the report directory's streams (diffs.ndjson, results.ndjson, top diffs); none without --report */
  report?: ShadowReport | undefined;
  log: Logger;
}

export interface ShadowJudge {
  /** resolves when the pair is judged (or dropped); never rejects */
  judge(pair: JudgePair): Promise<void>;
  /** a copy the candidate did not answer (error, timeout): counted against error_rate */
  unanswered(p: { id: string; at: number; method: string; url: string; endpoint: string; baseline: ResponseSample; error: string }): void;
  /** judged so far */
  readonly judged: number;
  samples(): DiffSample[];
  outbound(): OutboundSummary[];
}

const MAX_OUTBOUND_KEYS = 500;

/**
 * What a body costs to judge, in bytes: a compressed body is decoded before it is walked, and
 * JSON usually compresses 5 to 20 times, so it weighs as what it likely inflates to. Decoding
 * itself is bounded by compare.max_body_bytes wherever it runs.
 */
const ENCODED_WEIGHT = 16;

function judgeWeight(s: ResponseSample): number {
  if (s.body.length === 0) return 0;
  return contentEncodingOf(s.headers) === undefined ? s.body.length : s.body.length * ENCODED_WEIGHT;
}

export function createShadowJudge(opts: ShadowJudgeOptions): ShadowJudge {
  const ring: Array<DiffSample | undefined> = new Array<DiffSample | undefined>(Math.max(1, opts.maxSamples));
  let ringNext = 0;
  let judged = 0;
  const outboundTally = new Map<string, { endpoint: string; service: string; key: string; requests: number; extra: number }>();

  const keep = (s: DiffSample) => {
    ring[ringNext % ring.length] = s;
    ringNext++;
  };

  const compare = (a: ResponseSample, b: ResponseSample, endpoint: string): Promise<CompareOutcome> | CompareOutcome | undefined => {
    if (opts.pool !== undefined && judgeWeight(a) + judgeWeight(b) > opts.inlineMaxBytes) return opts.pool.compare(a, b, endpoint);
    return opts.comparator.compare(a, b, endpoint);
  };

  const tallyOutbound = (endpoint: string, diffs: OutboundDiff[]) => {
    for (const d of diffs) {
      const k = `${endpoint}\u0000${d.service}\u0000${d.key}`;
      let t = outboundTally.get(k);
      if (t === undefined) {
        if (outboundTally.size >= MAX_OUTBOUND_KEYS) continue;
        t = { endpoint, service: d.service, key: d.key, requests: 0, extra: 0 };
        outboundTally.set(k, t);
      }
      t.requests++;
      t.extra += d.candidate - d.primary;
    }
  };

  async function judge(pair: JudgePair): Promise<void> {
    try {
      const pending = compare(pair.baseline, pair.candidate, pair.endpoint);
      if (pending === undefined) {
        opts.drop('judge_saturated');
        return;
      }
      let selfPending: Promise<CompareOutcome> | CompareOutcome | undefined;
      if (pair.secondary !== undefined && opts.noise?.wantsSample(pair.endpoint) === true) selfPending = compare(pair.baseline, pair.secondary, pair.endpoint);
      const [raw, self] = await Promise.all([pending, selfPending]);
      if (self !== undefined) opts.noise?.observe(pair.endpoint, self);
      const { result, outcome } = opts.noise !== undefined ? opts.noise.judge(pair.endpoint, raw) : { result: raw.isMatch ? ('match' as const) : ('mismatch' as const), outcome: raw };
      const outboundDiffs = pair.outbound === undefined ? [] : diffOutbound(pair.outbound.primary, pair.outbound.candidate);
      const j: JudgedRequest = {
        exchangeId: pair.id,
        endpoint: pair.endpoint,
        isAnswered: true,
        candidateStatus: pair.candidate.status,
        baselineStatus: pair.baseline.status,
        outcome,
        candidateMs: pair.candidate.durationMs,
        baselineMs: pair.baseline.durationMs,
        isNoise: result === 'noise',
      };
      opts.windowed.record(j);
      opts.total.record(j);
      opts.metrics.recordComparison(pair.endpoint, result, outcome.fields, outcome.flags);
      opts.metrics.recordDurations(pair.endpoint, pair.candidate.durationMs, pair.baseline.durationMs);
      judged++;
      opts.report?.record(j, result, { baseline: pair.baseline, candidate: pair.candidate });
      if (outboundDiffs.length > 0) tallyOutbound(pair.endpoint, outboundDiffs);
      if (result === 'mismatch' || outboundDiffs.length > 0) {
        const s: DiffSample = {
          id: pair.id,
          at: new Date(pair.at).toISOString(),
          endpoint: pair.endpoint,
          method: pair.method,
          url: pair.url,
          result: result === 'mismatch' ? 'mismatch' : 'outbound',
          baselineStatus: pair.baseline.status,
          candidateStatus: pair.candidate.status,
          baselineMs: pair.baseline.durationMs,
          candidateMs: pair.candidate.durationMs,
          diffs: outcome.diffs,
        };
        if (outcome.omittedDiffs !== undefined) s.omittedDiffs = outcome.omittedDiffs;
        if (outboundDiffs.length > 0) s.outbound = outboundDiffs;
        keep(s);
      }
    } catch (err) {
      // A pool closed at shutdown or a worker that died: this pair is not judged.
      opts.log.debug({ err, id: pair.id }, 'comparison failed');
      opts.drop('judge_saturated');
    }
  }

  return {
    judge,
    unanswered(p) {
      const j: JudgedRequest = {
        exchangeId: p.id,
        endpoint: p.endpoint,
        isAnswered: false,
        candidateStatus: undefined,
        baselineStatus: p.baseline.status,
        outcome: undefined,
        candidateMs: undefined,
        baselineMs: p.baseline.durationMs,
      };
      opts.windowed.record(j);
      opts.total.record(j);
      opts.metrics.recordDurations(p.endpoint, undefined, p.baseline.durationMs);
      opts.report?.record(j, 'error', undefined, p.error);
      keep({
        id: p.id,
        at: new Date(p.at).toISOString(),
        endpoint: p.endpoint,
        method: p.method,
        url: p.url,
        result: 'error',
        baselineStatus: p.baseline.status,
        candidateStatus: undefined,
        baselineMs: p.baseline.durationMs,
        candidateMs: undefined,
        diffs: [],
        error: p.error,
      });
    },
    get judged() {
      return judged;
    },
    samples() {
      const out: DiffSample[] = [];
      // newest first
      for (let i = ringNext - 1; i >= 0 && i >= ringNext - ring.length; i--) {
        const s = ring[i % ring.length];
        if (s !== undefined) out.push(s);
      }
      return out;
    },
    outbound() {
      return [...outboundTally.values()]
        .map((t) => ({
          endpoint: t.endpoint,
          service: t.service,
          key: t.key,
          requests: t.requests,
          extraCalls: t.extra,
          message: describeOutbound(t.endpoint, t.service, t.key, t.extra, t.requests),
        }))
        .sort((a, b) => Math.abs(b.extraCalls) - Math.abs(a.extraCalls) || a.endpoint.localeCompare(b.endpoint));
    },
  };
}

function describeOutbound(endpoint: string, service: string, key: string, extra: number, requests: number): string {
  const per = requests === 0 ? 0 : extra / requests;
  const n = Math.round(Math.abs(per) * 10) / 10;
  if (extra === 0) return `candidate's ${service} calls ${key} on ${endpoint} differ from the primary's in ${requests} request(s)`;
  return `candidate issued ${n} ${per > 0 ? 'more' : 'fewer'} ${service} ${key} call(s) per request on ${endpoint} (${requests} request(s))`;
}

/** Per call key, how many times each side called it; keys whose counts differ. */
export function diffOutbound(primary: readonly OutboundCall[], candidate: readonly OutboundCall[]): OutboundDiff[] {
  const counts = new Map<string, OutboundDiff>();
  const bump = (c: OutboundCall, side: 'primary' | 'candidate') => {
    const k = `${c.service}\u0000${c.key}`;
    let d = counts.get(k);
    if (d === undefined) {
      d = { service: c.service, key: c.key, primary: 0, candidate: 0 };
      counts.set(k, d);
    }
    d[side]++;
  };
  for (const c of primary) bump(c, 'primary');
  for (const c of candidate) bump(c, 'candidate');
  const out: OutboundDiff[] = [];
  for (const d of counts.values()) if (d.primary !== d.candidate) out.push(d);
  return out;
}
