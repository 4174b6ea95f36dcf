/**
 * The shadow's narrow interfaces. The tee consumes finished exchanges as the
 * capture proxy hands them to its sink, and sends copies through a one-method
 * candidate client; neither knows about undici or the proxy's internals.
 */
import type { HeaderPairs } from '../core/exchange.js';
import type { RawHttpExchange } from '../capture/recorder.js';

/** A finished primary exchange, as the capture proxy hands it to a sink (raw lists, body chunks): the part the tee reads. */
export type TeeExchange = Pick<
  RawHttpExchange,
  'id' | 'startedAt' | 'durationMs' | 'method' | 'url' | 'version' | 'requestHeaders' | 'requestBody' | 'requestTruncated' | 'response' | 'error'
>;

/** Why a copy was not sent or not judged: the `reason` label of doppel_shadow_dropped_total. */
export const DROP_REASONS = [
  'queue_full',
  'candidate_timeout',
  'candidate_error',
  'body_too_large',
  'sampled_out',
  'filtered',
  'primary_error',
  'judge_saturated',
  'shutdown',
  'mock_window',
] as const;
export type ShadowDropReason = (typeof DROP_REASONS)[number];

export interface CandidateRequest {
  method: string;
  url: string;
  /** flat raw list; the client drops connection-level fields itself */
  headers: readonly string[];
  body: Buffer | null;
  /** "2": the primary's request arrived over HTTP/2, and the copy goes over HTTP/2 */
  version?: '2' | undefined;
}

export interface CandidateResponse {
  status: number;
  headers: HeaderPairs;
  body: Buffer;
  durationMs: number;
}

/** Failure of a candidate call, sorted for the drop counter. */
export type CandidateFailure = 'candidate_timeout' | 'candidate_error' | 'body_too_large';

export class CandidateCallError extends Error {
  readonly reason: CandidateFailure;
  readonly code: string;
  constructor(reason: CandidateFailure, code: string, message: string) {
    super(message);
    this.name = 'CandidateCallError';
    this.reason = reason;
    this.code = code;
  }
}

/** How a call ends: with the whole response, or with the failure sorted for the drop counter. */
export type CandidateDone = (err: CandidateCallError | undefined, res: CandidateResponse | undefined) => void;

/** What the tee needs from a candidate (or a secondary). */
export interface CandidateClient {
  /**
   * Sends one request; `done` is called once, with the whole response or the sorted failure.
   * A callback, not a promise: a copy is held for the candidate's whole latency, and every
   * promise and async frame it keeps alive is more for the primary's garbage collections to copy.
   */
  call(req: CandidateRequest, done: CandidateDone): void;
  /** false while the candidate is known to refuse connections (copies are then dropped without a try) */
  isAvailable?(): boolean;
  close(): Promise<void>;
}
