/**
 * The one judge of replay and shadow: each pair is compared as soon as both
 * answers are complete, learned noise is taken out, and the result feeds the
 * gate evaluators, the run metrics, the report streams and a bounded ring of
 * diff samples. Callers differ only in where the pairs come from.
 *
 * Small pairs are compared inline (cheaper than a thread hop); with a worker
 * pool, pairs whose bodies together exceed `inlineMaxBytes` (a compressed body
 * weighs what it likely inflates to: it is decoded where it is compared) go to
 * the pool, and are dropped and counted when it is saturated.
 */
import type { JudgedResult, NoiseLearner } from '../compare/noise.js';
import type { Comparator, CompareOutcome, ResponseSample } from '../compare/types.js';
import { contentEncodingOf } from '../core/content-coding.js';
import type { Logger } from '../core/logger.js';
import type { RunMetrics } from '../gates/run-metrics.js';
import type { JudgedRequest } from '../gates/types.js';
import type { JudgePool } from './judge-pool.js';
import { createOutboundTally, diffOutbound } from './outbound.js';
import type { RunReportWriter } from './run-report.js';
import type { DiffSample, JudgePair, OutboundSummary, UnansweredPair } from './types.js';

export interface JudgeOptions {
  comparator: Comparator;
  /** worker threads for large pairs; none compares every pair inline */
  pool?: JudgePool | undefined;
  /** pairs whose two bodies together weigh more go to the pool */
  inlineMaxBytes?: number;
  /**
   * a pair the pool cannot take (saturated, or its worker failed): `drop` counts it unjudged
   * (onSaturated; the shadow, which must never hold the primary back), `inline` compares it here
   * (replay, which judges every pair and may wait)
   */
  whenPoolFull?: 'drop' | 'inline';
  noise: NoiseLearner | undefined;
  /** every judged request is recorded in each (shadow: a windowed and a cumulative one) */
  evaluators: ReadonlyArray<{ record(j: JudgedRequest): void }>;
  metrics: Pick<RunMetrics, 'recordComparison' | 'recordDurations'>;
  /** the report directory's streams; none without --report */
  report?: Pick<RunReportWriter, 'record'> | undefined;
  /** diff samples kept for the live view, newest replacing oldest */
  maxSamples: number;
  /** a pair the pool could not take, or whose comparison failed, is not judged */
  onSaturated: () => void;
  log: Logger;
}

/** How a pair was judged. */
export interface Judgment {
  result: JudgedResult;
  /** with learned noise taken out */
  outcome: CompareOutcome;
}

export interface Judge {
  /** resolves to the judgment, or undefined when the pair was dropped (counted); never rejects */
  judge(pair: JudgePair): Promise<Judgment | undefined>;
  /** the same, as a value when the pair was compared inline and a promise only when it was not */
  judgeNow(pair: JudgePair): Judgment | undefined | Promise<Judgment | undefined>;
  /** a request the candidate did not answer: counted against error_rate */
  unanswered(p: UnansweredPair): void;
  /** pairs judged so far */
  readonly judged: number;
  /** of those, pairs compared in the pool's threads, off this event loop */
  readonly offloaded: number;
  /** newest first */
  samples(): DiffSample[];
  outbound(): OutboundSummary[];
}

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

/** Shared by every pair without extras: judging allocates nothing for what is not there. */
const NONE: readonly never[] = Object.freeze([]);

/** Folds what a pair kind judged beside the comparator into the outcome. */
function withExtras(outcome: CompareOutcome, pair: JudgePair): CompareOutcome {
  const diffs = pair.extraDiffs ?? NONE;
  const flags = pair.extraFlags ?? NONE;
  if (diffs.length === 0 && flags.length === 0) return outcome;
  return {
    ...outcome,
    isMatch: outcome.isMatch && diffs.length === 0,
    fields: { ...outcome.fields, mismatch: outcome.fields.mismatch + diffs.length },
    diffs: [...diffs, ...outcome.diffs],
    flags: [...outcome.flags, ...flags],
  };
}

export function createJudge(opts: JudgeOptions): Judge {
  const ring: Array<DiffSample | undefined> = new Array<DiffSample | undefined>(Math.max(1, opts.maxSamples));
  let ringNext = 0;
  let judged = 0;
  const tally = createOutboundTally();
  const inlineMaxBytes = opts.inlineMaxBytes ?? Number.POSITIVE_INFINITY;

  const keep = (s: DiffSample) => {
    ring[ringNext % ring.length] = s;
    ringNext++;
  };

  const record = (j: JudgedRequest) => {
    for (const ev of opts.evaluators) ev.record(j);
  };

  let offloaded = 0;
  const isInlineWhenFull = opts.whenPoolFull === 'inline';
  const compare = (a: ResponseSample, b: ResponseSample, endpoint: string): Promise<CompareOutcome> | CompareOutcome | undefined => {
    if (opts.pool !== undefined && judgeWeight(a) + judgeWeight(b) > inlineMaxBytes) {
      const pending = opts.pool.compare(a, b, endpoint);
      if (pending === undefined) return isInlineWhenFull ? opts.comparator.compare(a, b, endpoint) : undefined;
      offloaded++;
      return isInlineWhenFull ? pending.catch(() => opts.comparator.compare(a, b, endpoint)) : pending;
    }
    return opts.comparator.compare(a, b, endpoint);
  };

  /** A pair the pool closed on at shutdown, or whose worker died, or whose comparison threw: not judged. */
  const failed = (err: unknown, pair: JudgePair): undefined => {
    opts.log.debug({ err, id: pair.id }, 'comparison failed');
    opts.onSaturated();
    return undefined;
  };

  /** Takes the comparison's outcome (and the self-comparison's, for noise) through to every sink. */
  const conclude = (pair: JudgePair, compared: CompareOutcome, self: CompareOutcome | undefined): Judgment => {
    const raw = withExtras(compared, pair);
    if (self !== undefined) opts.noise?.observe(pair.endpoint, self);
    const { result, outcome } = opts.noise !== undefined ? opts.noise.judge(pair.endpoint, raw) : { result: raw.isMatch ? ('match' as const) : ('mismatch' as const), outcome: raw };
    const outboundDiffs = pair.outbound === undefined ? undefined : diffOutbound(pair.outbound.primary, pair.outbound.candidate);
    const hasOutboundDiffs = outboundDiffs !== undefined && outboundDiffs.length > 0;
    const j: JudgedRequest = {
      exchangeId: pair.id,
      endpoint: pair.endpoint,
      isAnswered: true,
      candidateStatus: pair.candidate.status,
      baselineStatus: pair.baseline.status,
      outcome,
      candidateMs: pair.candidate.durationMs,
      baselineMs: pair.baselineMs,
      isNoise: result === 'noise',
    };
    // set, not spread in: a spread of a conditional object literal is an object and a slow copy per pair
    if (pair.isKnownMismatch !== undefined) j.isKnownMismatch = pair.isKnownMismatch;
    record(j);
    opts.metrics.recordComparison(pair.endpoint, result, outcome.fields, outcome.flags);
    opts.metrics.recordDurations(pair.endpoint, pair.candidate.durationMs, pair.baselineMs);
    judged++;
    opts.report?.record(j, result === 'mismatch', { baseline: pair.baseline, candidate: pair.candidate });
    if (hasOutboundDiffs) tally.add(pair.endpoint, outboundDiffs);
    if (result === 'mismatch' || hasOutboundDiffs) {
      const s: DiffSample = {
        id: pair.id,
        at: new Date(pair.at).toISOString(),
        endpoint: pair.endpoint,
        method: pair.method,
        url: pair.url,
        result: result === 'mismatch' ? 'mismatch' : 'outbound',
        baselineStatus: pair.baseline.status,
        candidateStatus: pair.candidate.status,
        baselineMs: pair.baselineMs,
        candidateMs: pair.candidate.durationMs,
        diffs: outcome.diffs,
        flags: outcome.flags,
      };
      if (outcome.omittedDiffs !== undefined) s.omittedDiffs = outcome.omittedDiffs;
      if (hasOutboundDiffs) s.outbound = outboundDiffs;
      keep(s);
    }
    return { result, outcome };
  };

  const settle = async (pair: JudgePair, pending: Promise<CompareOutcome> | CompareOutcome, selfPending: Promise<CompareOutcome> | CompareOutcome | undefined): Promise<Judgment | undefined> => {
    try {
      const [compared, self] = await Promise.all([pending, selfPending]);
      return conclude(pair, compared, self);
    } catch (err) {
      return failed(err, pair);
    }
  };

  /**
   * The judgment itself for a pair compared inline (nearly every one): no promise and no turn of
   * the microtask queue; a promise only when the pool or a self-comparison is awaited.
   */
  function judgeNow(pair: JudgePair): Judgment | undefined | Promise<Judgment | undefined> {
    try {
      const pending = compare(pair.baseline, pair.candidate, pair.endpoint);
      if (pending === undefined) {
        opts.onSaturated();
        return undefined;
      }
      let selfPending: Promise<CompareOutcome> | CompareOutcome | undefined;
      if (pair.secondary !== undefined && opts.noise?.wantsSample(pair.endpoint) === true) selfPending = compare(pair.baseline, pair.secondary, pair.endpoint);
      if (selfPending !== undefined || pending instanceof Promise) return settle(pair, pending, selfPending);
      return conclude(pair, pending, undefined);
    } catch (err) {
      return failed(err, pair);
    }
  }

  return {
    judge: async (pair) => judgeNow(pair),
    judgeNow,
    unanswered(p) {
      const j: JudgedRequest = {
        exchangeId: p.id,
        endpoint: p.endpoint,
        isAnswered: false,
        candidateStatus: undefined,
        baselineStatus: p.baselineStatus,
        outcome: undefined,
        candidateMs: undefined,
        baselineMs: p.baselineMs,
        ...(p.isKnownMismatch === undefined ? {} : { isKnownMismatch: p.isKnownMismatch }),
      };
      record(j);
      opts.metrics.recordDurations(p.endpoint, undefined, p.baselineMs);
      opts.report?.record(j, false, undefined, p.error);
      keep({
        id: p.id,
        at: new Date(p.at).toISOString(),
        endpoint: p.endpoint,
        method: p.method,
        url: p.url,
        result: 'error',
        baselineStatus: p.baselineStatus,
        candidateStatus: undefined,
        baselineMs: p.baselineMs,
        candidateMs: undefined,
        diffs: [],
        flags: [],
        error: p.error,
      });
    },
    get judged() {
      return judged;
    },
    get offloaded() {
      return offloaded;
    },
    samples() {
      const out: DiffSample[] = [];
      for (let i = ringNext - 1; i >= 0 && i >= ringNext - ring.length; i--) {
        const s = ring[i % ring.length];
        if (s !== undefined) out.push(s);
      }
      return out;
    },
    outbound: () => tally.summaries(),
  };
}
