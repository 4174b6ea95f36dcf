/**
 * Sends one copy to the candidate (and to the secondary when noise learning
 * wants it) and hands the answer to the judge through the judge lane. Only
 * what the judge needs is kept across the wait (a copy is in flight for the
 * candidate's whole latency, so whatever it holds survives garbage
 * collections, and copying survivors is what makes those pauses long for the
 * primary): not the exchange, its request or header pairs, and no promise or
 * async frame per copy.
 */
import type { HeaderPairs } from '../core/exchange.js';
import type { Logger } from '../core/logger.js';
import type { Judge } from '../judge/judge.js';
import type { OutboundCall } from '../judge/types.js';
import { endpointLabel } from '../metrics/route-template.js';
import type { CopyPacer } from './copy-pacer.js';
import type { JudgeLane } from './judge-lane.js';
import type { CandidateCallError, CandidateClient, CandidateRequest, CandidateResponse, ShadowDropReason, TeeExchange } from './types.js';

/** What the tee asks of the live mocks for one copy. */
export interface LiveMockSession {
  /** headers to send the candidate (a traceparent may be added so its calls can be correlated) */
  readonly headers: readonly string[];
  /** the primary's and the candidate's downstream calls, once the candidate answered */
  finish(): { primary: OutboundCall[]; candidate: OutboundCall[] };
}

export interface LiveMockPort {
  /** opens the correlation of one copy: the primary's calls for it become the candidate's mocks */
  begin(ex: TeeExchange): LiveMockSession;
}

export interface CopySenderOptions {
  candidate: CandidateClient;
  secondary?: CandidateClient | undefined;
  /** true when the secondary should get this endpoint's copy (noise learning wants samples) */
  wantsSecondary?: ((endpoint: string) => boolean) | undefined;
  judge: Judge;
  liveMocks?: LiveMockPort | undefined;
  drop: (reason: ShadowDropReason) => void;
  pacer: CopyPacer;
  lane: JudgeLane;
  /** a copy is done (answered and handed to the judge, or failed): its in-flight slot goes back */
  release: () => void;
  /** a judgment started; it settles when the pair is judged or dropped */
  judging: (settled: Promise<unknown>) => void;
  log: Logger;
}

export function concatChunks(chunks: readonly Buffer[]): Buffer {
  if (chunks.length === 0) return Buffer.alloc(0);
  if (chunks.length === 1) return chunks[0] as Buffer;
  return Buffer.concat(chunks);
}

function pairs(flat: readonly string[]): HeaderPairs {
  const out: HeaderPairs = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i] as string, flat[i + 1] as string]);
  return out;
}

export class CopySender {
  readonly #o: CopySenderOptions;
  sent = 0;
  answered = 0;

  constructor(opts: CopySenderOptions) {
    this.#o = opts;
  }

  send(ex: TeeExchange): void {
    const o = this.#o;
    const response = ex.response as NonNullable<TeeExchange['response']>;
    const { id, startedAt: at, method, url, durationMs } = ex;
    const status = response.status;
    const rawHeaders = response.headers;
    const baselineBody = concatChunks(response.body);
    const endpoint = endpointLabel(method, url);
    const session = o.liveMocks?.begin(ex);
    const wantsSecondary = o.secondary !== undefined && (o.wantsSecondary?.(endpoint) ?? true);
    this.sent++;
    const sentAt = performance.now();
    let waiting = wantsSecondary ? 2 : 1;
    let candidate: CandidateResponse | undefined;
    let failure: CandidateCallError | undefined;
    let secondary: CandidateResponse | undefined;

    const answered = () => {
      o.pacer.note(performance.now() - sentAt);
      if (candidate === undefined) {
        session?.finish();
        const reason = failure?.reason ?? 'candidate_error';
        o.drop(reason);
        if (reason !== 'body_too_large') {
          o.judge.unanswered({ id, at, method, url, endpoint, baselineStatus: status, baselineMs: durationMs, error: `${reason}: ${failure?.message ?? 'no answer'}` });
        }
        o.release();
        return;
      }
      this.answered++;
      const outbound = session?.finish();
      const c = candidate;
      const s = secondary;
      // A pair waiting in the lane keeps its in-flight slot, so the lane is bounded by max_in_flight.
      o.lane.push(() => {
        try {
          o.judging(
            o.judge.judge({
              id,
              at,
              method,
              url,
              endpoint,
              baseline: { status, headers: pairs(rawHeaders), body: baselineBody, durationMs },
              baselineMs: durationMs,
              candidate: { status: c.status, headers: c.headers, body: c.body, durationMs: c.durationMs },
              secondary: s === undefined ? undefined : { status: s.status, headers: s.headers, body: s.body, durationMs: s.durationMs },
              outbound,
            }),
          );
        } finally {
          // Large pairs wait for the worker pool, whose queue is their bound; the in-flight slot goes back now.
          o.release();
        }
      });
    };

    const req: CandidateRequest = { method, url, headers: session?.headers ?? ex.requestHeaders, body: ex.requestBody.length === 0 ? null : concatChunks(ex.requestBody), version: ex.version };
    o.candidate.call(req, (err, res) => {
      candidate = res;
      failure = err;
      if (--waiting === 0) answered();
    });
    if (wantsSecondary) {
      (o.secondary as CandidateClient).call(req, (err, res) => {
        // The secondary only feeds noise learning: its failure is logged, never a drop.
        if (err !== undefined) o.log.debug({ err, id }, 'secondary failed');
        secondary = res;
        if (--waiting === 0) answered();
      });
    }
  }
}
