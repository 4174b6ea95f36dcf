/**
 * What the judge takes and keeps, whoever feeds it: replay pairs a recorded
 * (or substituted) response with the candidate's, shadow pairs the live
 * primary's with the candidate's copy. A later protocol hands the same pairs.
 */
import type { FieldDiff, ResponseSample } from '../compare/types.js';

/** One downstream call as the live mocks saw it, for the outbound diff. */
export interface OutboundCall {
  service: string;
  /** "GET /rates/:id" for HTTP */
  key: string;
  method: string;
  url: string;
  status: number | undefined;
  /** true when the candidate's call was answered from the primary's recording */
  isMatched?: boolean;
}

export interface OutboundDiff {
  service: string;
  key: string;
  /** primary's calls minus the candidate's: positive = the candidate issued fewer */
  primary: number;
  candidate: number;
}

/** The request both sides answered, as samples and report rows name it. */
export interface PairSubject {
  /** exchange id (replay) or copy id (shadow) */
  id: string;
  /** epoch ms the sample is stamped with */
  at: number;
  method: string;
  url: string;
  /** route template: "GET /orders/:id" */
  endpoint: string;
}

/** A baseline answer and the candidate's answer to the same request. */
export interface JudgePair extends PairSubject {
  baseline: ResponseSample;
  candidate: ResponseSample;
  /**
   * The baseline's duration for latency gates and metrics: the live primary's, or an
   * earlier baseline run's (recorded production durations are not comparable).
   */
  baselineMs: number | undefined;
  /** set when paired with an earlier baseline run: it had a mismatch for this request */
  isKnownMismatch?: boolean | undefined;
  /** a second baseline instance's answer to the same request, for noise learning */
  secondary?: ResponseSample | undefined;
  /** downstream calls of the primary and of the candidate for this request (live mocks) */
  outbound?: { primary: OutboundCall[]; candidate: OutboundCall[] } | undefined;
  /** differences judged beside the comparator (gRPC: grpc-message, status details) */
  extraDiffs?: FieldDiff[] | undefined;
  /** flags of how the pair was lifted (gRPC: messages compared as bytes, and why) */
  extraFlags?: string[] | undefined;
}

/** A request the candidate did not answer (refused, reset, timeout). */
export interface UnansweredPair extends PairSubject {
  baselineStatus: number;
  baselineMs: number | undefined;
  isKnownMismatch?: boolean | undefined;
  /** why: "candidate_timeout: ..." */
  error: string;
}

/** A judged request kept for the live view: a mismatch, an outbound difference or no answer. */
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
  /** the comparison's flags (undecoded bodies, truncation) */
  flags: string[];
  outbound?: OutboundDiff[];
  error?: string;
}

/** Calls of one kind the candidate made more (or fewer) often than the primary, per endpoint. */
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
