/**
 * Sends shadow copies to the candidate (or the secondary) over an undici
 * Pool, as a raw dispatch handler: no stream, AbortController or timer per
 * copy. Each call has one deadline for the whole exchange (one shared sweep)
 * and a byte cap on the response it keeps; failures come back as
 * CandidateCallError sorted by reason for the drop counter.
 */
import { Pool, errors as undiciErrors } from 'undici';
import { http2PoolOptions } from '../core/http2-headers.js';
import type { HeaderPairs } from '../core/exchange.js';
import type { TargetTls } from '../core/tls.js';
import { CandidateCallError, type CandidateClient, type CandidateDone, type CandidateRequest, type CandidateResponse } from './types.js';

export interface CandidateClientOptions {
  /** base URL; its path is prefixed to every request path */
  url: string;
  timeoutMs: number;
  /** largest response body kept; a longer one fails the call as body_too_large */
  maxBodyBytes: number;
  /** sockets kept to the candidate (the tee's in-flight bound) */
  connections: number;
  /** CA and client certificate of an https:// candidate */
  tls?: TargetTls | undefined;
  /** every copy over HTTP/2, not only copies of HTTP/2 requests (an h2c-only candidate) */
  http2?: boolean | undefined;
}

/**
 * Fields that belong to one connection, not to the request (RFC 9110 §7.6.1),
 * plus Host and Content-Length, which the client sets for the candidate and
 * for the body it actually sends.
 */
const DROPPED = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'transfer-encoding', 'upgrade', 'trailer', 'expect', 'host', 'content-length', 'http2-settings']);

export function candidateHeaders(raw: readonly string[]): string[] {
  const out: string[] = [];
  let connectionTokens: Set<string> | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === 'connection') {
      connectionTokens ??= new Set();
      for (const t of (raw[i + 1] as string).split(',')) connectionTokens.add(t.trim().toLowerCase());
    }
  }
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const lower = (raw[i] as string).toLowerCase();
    if (DROPPED.has(lower) || connectionTokens?.has(lower) === true) continue;
    out.push(raw[i] as string, raw[i + 1] as string);
  }
  return out;
}

function errorCode(err: unknown): string {
  const e = err as { code?: unknown; cause?: { code?: unknown } };
  if (typeof e.code === 'string') return e.code;
  if (typeof e.cause?.code === 'string') return e.cause.code;
  return 'UNKNOWN';
}

/** Errors that mean nobody is listening: a dead candidate, not a slow one. */
const REFUSED_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);
/** A dead candidate is retried after this long, doubling up to BACKOFF_MAX_MS. */
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5_000;

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT', 'DOPPEL_DEADLINE']);

const NO_HEADERS: HeaderPairs = [];
/** Entries in the deadline FIFO past which the settled ones are swept out of the middle. */
const COMPACT_AFTER = 1024;
const settledAlready = (): void => undefined;

/** One call in flight: settled once, by the candidate's answer, an error or the deadline sweep. */
class CandidateCall {
  readonly deadline: number;
  readonly t0: number;
  readonly maxBody: number;
  status = 0;
  headers: HeaderPairs = [];
  chunks: Buffer[] = [];
  size = 0;
  isSettled = false;
  #abort: ((err: Error) => void) | undefined;
  #settle: (err: unknown, res: CandidateResponse | undefined) => void;

  constructor(t0: number, timeoutMs: number, maxBody: number, settle: (err: unknown, res: CandidateResponse | undefined) => void) {
    this.t0 = t0;
    this.deadline = t0 + timeoutMs;
    this.maxBody = maxBody;
    this.#settle = settle;
  }

  fail(err: unknown): void {
    if (this.isSettled) return;
    this.isSettled = true;
    const settle = this.#settle;
    this.#forget();
    settle(err, undefined);
  }

  /** settles now and tells undici to drop the exchange (at once, or as soon as it connects) */
  cancel(err: CandidateCallError): void {
    const abort = this.#abort;
    this.fail(err);
    abort?.(err);
  }

  /**
   * A settled call lets go of the copy: undici and the deadline FIFO may still point at it for
   * a while, and whatever it reaches then outlives the copy across garbage collections.
   */
  #forget(): void {
    this.#settle = settledAlready;
    this.#abort = undefined;
    this.headers = NO_HEADERS;
    this.chunks = [];
  }

  onConnect(abort: (err: Error) => void): void {
    this.#abort = abort;
    if (this.isSettled) abort(new Error('call already settled'));
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[] | string[]): boolean {
    // 1xx interim responses (RFC 9110 §15.2) are not the answer; the final one follows.
    if (statusCode < 200) return true;
    this.status = statusCode;
    const out: HeaderPairs = [];
    // lower-cased names suffice: the comparator matches header names case-insensitively
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) out.push([rawHeaders[i]!.toString('latin1').toLowerCase(), rawHeaders[i + 1]!.toString('latin1')]);
    this.headers = out;
    return !this.isSettled;
  }

  onData(chunk: Buffer): boolean {
    if (this.isSettled) return false;
    this.size += chunk.length;
    if (this.size > this.maxBody) {
      this.cancel(new CandidateCallError('body_too_large', 'BODY_TOO_LARGE', `candidate body over ${this.maxBody} bytes`));
      return false;
    }
    // Kept as undici hands it over, as its own request API does: each chunk is a view of one socket read, not of a reused buffer.
    this.chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    if (this.isSettled) return;
    this.isSettled = true;
    const c = this.chunks;
    const res: CandidateResponse = {
      status: this.status,
      headers: this.headers,
      body: c.length === 0 ? EMPTY : c.length === 1 ? (c[0] as Buffer) : Buffer.concat(c, this.size),
      durationMs: performance.now() - this.t0,
    };
    const settle = this.#settle;
    this.#forget();
    settle(undefined, res);
  }

  onError(err: Error): void {
    this.fail(err);
  }
}

const EMPTY = Buffer.alloc(0);

export function createCandidateClient(opts: CandidateClientOptions): CandidateClient {
  const base = new URL(opts.url);
  const basePath = base.pathname.replace(/\/+$/, '');
  const connect = { timeout: Math.min(opts.timeoutMs, 10_000), ...opts.tls };
  const pool = new Pool(base.origin, {
    connections: opts.connections,
    pipelining: 1,
    // The deadline sweep below bounds every call; undici's own per-request timers would be
    // two more timer objects per copy that live as long as the copy is in flight.
    headersTimeout: 0,
    bodyTimeout: 0,
    connect,
    keepAliveTimeout: 4_000,
  });
  // Copies of requests that reached the primary over HTTP/2 go over HTTP/2 (h2c in clear text); opened on the first.
  let h2pool: Pool | undefined;
  const h2 = () => (h2pool ??= new Pool(base.origin, { ...http2PoolOptions(base.origin, connect), headersTimeout: 0, bodyTimeout: 0, keepAliveTimeout: 4_000 }));
  const maxBody = opts.maxBodyBytes;
  // Connection refusals in a row open a back-off window in which copies are not tried:
  // a dead candidate then costs the tee one comparison per copy, not a connect attempt and an error.
  let refusals = 0;
  let backoffMs = BACKOFF_MIN_MS;
  let closedUntil = 0;

  // One deadline sweep for every call instead of a timer and an AbortController per copy. All calls
  // share one timeout, so send order is deadline order: a FIFO, and the sweep stops at the first live call.
  // An array whose slots are cleared as calls leave, not a Set: objects that passed through a Set (or a
  // Map) for a few hundred milliseconds were promoted by V8's scavenger although nothing held them any
  // more, and a copy on a slow candidate drags its whole closure along (--trace-gc-nvp, 64 copies in
  // flight: 540 kB promoted per scavenge with the Set, 20-40 kB with this FIFO; the same pattern in a
  // bare script promotes every object kept in a Set and none kept in array slots).
  const calls: Array<CandidateCall | undefined> = [];
  let head = 0;
  let compactAt = COMPACT_AFTER;
  const sweepEveryMs = Math.max(5, Math.min(500, Math.floor(opts.timeoutMs / 20)));
  let sweeper: NodeJS.Timeout | undefined;
  /** drops settled calls from the front; cancels the expired ones it meets when `now` is given */
  const trim = (now?: number) => {
    while (head < calls.length) {
      const c = calls[head] as CandidateCall;
      if (!c.isSettled) {
        if (now === undefined || c.deadline > now) break;
        c.cancel(new CandidateCallError('candidate_timeout', 'DOPPEL_DEADLINE', `no complete answer within ${opts.timeoutMs} ms`));
      }
      calls[head++] = undefined;
    }
    if (head === calls.length) {
      calls.length = 0;
      head = 0;
    } else if (calls.length - head > compactAt) {
      // A call that hangs at the front would keep every later, settled one queued behind it until its
      // deadline; keep only the calls still in flight, in order (so still deadline order).
      let kept = 0;
      for (let i = head; i < calls.length; i++) {
        const c = calls[i] as CandidateCall;
        if (!c.isSettled) calls[kept++] = c;
      }
      calls.length = kept;
      head = 0;
      // Many calls really in flight: wait for as many again before the next pass.
      compactAt = Math.max(COMPACT_AFTER, 2 * kept);
    }
  };
  const sweep = () => {
    trim(performance.now());
    if (calls.length === 0 && sweeper !== undefined) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
  };

  /** Sorts a failure for the drop counter; refusals in a row open the back-off window. */
  const classify = (err: unknown): CandidateCallError => {
    if (err instanceof CandidateCallError) return err;
    const code = errorCode(err);
    if (REFUSED_CODES.has(code)) {
      refusals++;
      if (refusals >= 3) {
        closedUntil = performance.now() + backoffMs;
        backoffMs = Math.min(BACKOFF_MAX_MS, backoffMs * 2);
      }
    }
    const reason = TIMEOUT_CODES.has(code) || err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError ? 'candidate_timeout' : 'candidate_error';
    return new CandidateCallError(reason, code, (err as Error).message);
  };

  function call(req: CandidateRequest, done: CandidateDone): void {
    const c: CandidateCall = new CandidateCall(performance.now(), opts.timeoutMs, maxBody, (err, res) => {
      if (err !== undefined) {
        done(classify(err), undefined);
        return;
      }
      refusals = 0;
      backoffMs = BACKOFF_MIN_MS;
      done(undefined, res);
    });
    trim();
    calls.push(c);
    if (sweeper === undefined) {
      sweeper = setInterval(sweep, sweepEveryMs);
      sweeper.unref();
    }
    try {
      (req.version === '2' || opts.http2 === true ? h2() : pool).dispatch({ path: basePath + req.url, method: req.method, headers: candidateHeaders(req.headers), body: req.body }, c);
    } catch (err) {
      c.fail(err);
    }
  }

  return {
    call,
    isAvailable: () => closedUntil === 0 || performance.now() >= closedUntil,
    async close() {
      if (sweeper !== undefined) clearInterval(sweeper);
      sweeper = undefined;
      await pool.destroy().catch(() => undefined);
      await h2pool?.destroy().catch(() => undefined);
    },
  };
}
