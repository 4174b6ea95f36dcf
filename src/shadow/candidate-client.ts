/**
 * Sends shadow copies to the candidate (or the secondary) over an undici
 * Pool. Each call has one deadline for the whole exchange and a byte cap on
 * the response it keeps; failures come back as CandidateCallError sorted by
 * reason for the drop counter. Nothing here is on the primary's path.
 */
import { Pool, errors as undiciErrors } from 'undici';
import type { HeaderPairs } from '../core/exchange.js';
import { CandidateCallError, type CandidateClient, type CandidateRequest, type CandidateResponse } from './types.js';

export interface CandidateClientOptions {
  /** base URL; its path is prefixed to every request path */
  url: string;
  timeoutMs: number;
  /** largest response body kept; a longer one fails the call as body_too_large */
  maxBodyBytes: number;
  /** sockets kept to the candidate (the tee's in-flight bound) */
  connections: number;
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

export function createCandidateClient(opts: CandidateClientOptions): CandidateClient {
  const base = new URL(opts.url);
  const basePath = base.pathname.replace(/\/+$/, '');
  const pool = new Pool(base.origin, {
    connections: opts.connections,
    pipelining: 1,
    headersTimeout: opts.timeoutMs,
    bodyTimeout: opts.timeoutMs,
    connect: { timeout: Math.min(opts.timeoutMs, 10_000) },
    keepAliveTimeout: 4_000,
  });
  const maxBody = opts.maxBodyBytes;
  // Connection refusals in a row open a back-off window in which copies are not tried:
  // a dead candidate then costs the tee one comparison per copy, not a connect attempt and an error.
  let refusals = 0;
  let backoffMs = BACKOFF_MIN_MS;
  let closedUntil = 0;

  async function send(req: CandidateRequest): Promise<CandidateResponse> {
    const t0 = performance.now();
    const ac = new AbortController();
    const deadline = setTimeout(() => ac.abort(new CandidateCallError('candidate_timeout', 'DOPPEL_DEADLINE', `no complete answer within ${opts.timeoutMs} ms`)), opts.timeoutMs);
    try {
      const res = await pool.request({
        path: basePath + req.url,
        method: req.method,
        headers: candidateHeaders(req.headers),
        body: req.body,
        signal: ac.signal,
      });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > maxBody) {
          res.body.destroy();
          throw new CandidateCallError('body_too_large', 'BODY_TOO_LARGE', `candidate body over ${maxBody} bytes`);
        }
        chunks.push(chunk);
      }
      refusals = 0;
      backoffMs = BACKOFF_MIN_MS;
      return {
        status: res.statusCode,
        // lower-cased names suffice: the comparator matches header names case-insensitively
        headers: objectPairs(res.headers),
        body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size),
        durationMs: performance.now() - t0,
      };
    } catch (err) {
      if (err instanceof CandidateCallError) throw err;
      if (ac.signal.aborted && ac.signal.reason instanceof CandidateCallError) throw ac.signal.reason;
      const code = errorCode(err);
      if (REFUSED_CODES.has(code)) {
        refusals++;
        if (refusals >= 3) {
          closedUntil = performance.now() + backoffMs;
          backoffMs = Math.min(BACKOFF_MAX_MS, backoffMs * 2);
        }
      }
      const reason = TIMEOUT_CODES.has(code) || err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError ? 'candidate_timeout' : 'candidate_error';
      throw new CandidateCallError(reason, code, (err as Error).message);
    } finally {
      clearTimeout(deadline);
    }
  }

  return {
    send,
    isAvailable: () => closedUntil === 0 || performance.now() >= closedUntil,
    async close() {
      await pool.destroy().catch(() => undefined);
    },
  };
}

function objectPairs(headers: Record<string, string | string[] | undefined>): HeaderPairs {
  const out: HeaderPairs = [];
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out.push([k, x]);
    else out.push([k, v]);
  }
  return out;
}
