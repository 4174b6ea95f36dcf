/**
 * Sends replayed requests to one target over HTTP/1.1 or, for exchanges
 * recorded over HTTP/2 (or every one with `http2`), over HTTP/2 (undici Pool
 * with allowH2: ALPN over TLS, h2c prior knowledge in clear text). Reads each response body up to a byte cap and
 * drops the rest so the connection stays reusable.
 *
 * Requests go through `Pool.dispatch` with a handler that collects the
 * response itself: no Readable body stream, no async iterator, no per-request
 * abort listener. undici 7's client calls the `onConnect/onHeaders/onData/
 * onComplete/onError` handler methods natively (a handler of the newer
 * `onRequestStart/onResponse*` shape is wrapped per request and its headers
 * parsed into an object), so this handler uses them and reads the raw header
 * buffers directly.
 */
import { Pool, util as undiciUtil } from 'undici';
import { http2PoolOptions } from '../core/http2-headers.js';
import type { HeaderPairs } from '../core/exchange.js';
import type { TargetTls } from '../core/tls.js';
import type { ResponseSample } from '../compare/types.js';
import type { OutgoingRequest } from './request-builder.js';
import { PeerFailureError } from '../core/peer-failure.js';

export type SendOutcome =
  | { ok: true; sample: ResponseSample & { durationMs: number }; isTruncated: boolean }
  | { ok: false; error: { code: string; message: string }; durationMs: number; isCancelled: boolean };

export interface HttpSender {
  readonly origin: string;
  /** never rejects: failures resolve to `{ ok: false }` */
  send(req: OutgoingRequest): Promise<SendOutcome>;
  close(): Promise<void>;
}

export interface HttpSenderOptions {
  /** base URL; a path prefix (http://host/api) is kept in front of every request path */
  target: string;
  connections: number;
  insecure: boolean;
  /** CA and client certificate of an https:// target (replay.target_tls) */
  tls?: TargetTls | undefined;
  timeoutMs: number;
  maxBodyBytes: number;
  now: () => number;
  /** every request over HTTP/2, not only those recorded over it */
  http2?: boolean | undefined;
  /** cancels every request in flight and every later one */
  signal?: AbortSignal;
}

class CancelledError extends Error {
  readonly code = 'DOPPEL_CANCELLED';
}

interface SenderState {
  readonly maxBodyBytes: number;
  readonly now: () => number;
  readonly inFlight: Set<ResponseCollector>;
  isStopped: boolean;
}

/** One request's undici handler: collects status, raw headers and a capped body. */
class ResponseCollector {
  #abort: ((err?: Error) => void) | undefined;
  #isCancelled = false;
  #status = 0;
  #headers: HeaderPairs = [];
  #chunks: Buffer[] = [];
  #size = 0;
  #isTruncated = false;

  private readonly state: SenderState;
  readonly start: number;
  #resolve: ((o: SendOutcome) => void) | undefined;

  constructor(state: SenderState, start: number, resolve: (o: SendOutcome) => void) {
    this.state = state;
    this.start = start;
    this.#resolve = resolve;
  }

  /**
   * Answers once and lets go of everything the request reached. `inFlight` churns an entry per
   * request, and a Set's table left behind by a rehash stays in the old generation, still pointing
   * at its collectors, until the next full GC: through `resolve` a collector reaches the awaiting
   * player and its whole request, which would otherwise all be promoted.
   */
  #answer(o: SendOutcome): void {
    const resolve = this.#resolve;
    this.#resolve = undefined;
    this.#chunks = [];
    this.#headers = [];
    this.#abort = undefined;
    resolve?.(o);
  }

  cancel(): void {
    this.#isCancelled = true;
    this.#abort?.(new CancelledError('cancelled'));
  }

  /** The whole answer took longer than the request timeout (a dripping or endless body). */
  expire(timeoutMs: number): void {
    this.#abort?.(new PeerFailureError('timeout', `no whole answer within ${timeoutMs} ms`));
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort;
    if (this.#isCancelled) abort(new CancelledError('cancelled'));
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], _resume: () => void, _statusText: string): boolean {
    // 1xx interim responses (RFC 9110 §15.2) come before the final one: keep only the last.
    this.#status = statusCode;
    const pairs: HeaderPairs = [];
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      // undici's own lookup of well-known names hands back one shared lower-case string: no copy per answer
      pairs.push([undiciUtil.headerNameToString(rawHeaders[i] as Buffer), (rawHeaders[i + 1] as Buffer).toString('latin1')]);
    }
    this.#headers = pairs;
    return true;
  }

  onData(chunk: Buffer): boolean {
    const max = this.state.maxBodyBytes;
    if (this.#size >= max) {
      this.#isTruncated = true;
      return true;
    }
    const room = max - this.#size;
    if (chunk.length > room) {
      this.#chunks.push(chunk.subarray(0, room));
      this.#size += room;
      this.#isTruncated = true;
    } else {
      this.#chunks.push(chunk);
      this.#size += chunk.length;
    }
    return true;
  }

  onComplete(_trailers: string[] | null): void {
    this.state.inFlight.delete(this);
    const durationMs = this.state.now() - this.start;
    const chunks = this.#chunks;
    const body = chunks.length === 1 ? (chunks[0] as Buffer) : chunks.length === 0 ? EMPTY : Buffer.concat(chunks, this.#size);
    this.#answer({ ok: true, sample: { status: this.#status, headers: this.#headers, body, durationMs }, isTruncated: this.#isTruncated });
  }

  onError(err: Error): void {
    this.state.inFlight.delete(this);
    this.#answer(failure(err, this.state.now() - this.start, this.#isCancelled || err instanceof CancelledError));
  }
}

const EMPTY = Buffer.alloc(0);

function failure(err: Error, durationMs: number, isCancelled: boolean): SendOutcome {
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = e.code ?? e.cause?.code ?? e.name;
  return { ok: false, error: { code: String(code), message: e.message }, durationMs, isCancelled };
}

export function createHttpSender(opts: HttpSenderOptions): HttpSender {
  const url = new URL(opts.target);
  const prefix = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  const connect = { ...opts.tls, rejectUnauthorized: !opts.insecure && opts.tls?.rejectUnauthorized !== false, timeout: Math.min(opts.timeoutMs, 10_000) };
  const pool = new Pool(url.origin, {
    connections: opts.connections,
    pipelining: 1,
    headersTimeout: opts.timeoutMs,
    bodyTimeout: opts.timeoutMs,
    connect,
  });
  // Opened on the first HTTP/2 exchange; its streams share few connections, so no connection count.
  let h2pool: Pool | undefined;
  const h2 = () => (h2pool ??= new Pool(url.origin, { ...http2PoolOptions(url.origin, connect), headersTimeout: opts.timeoutMs, bodyTimeout: opts.timeoutMs }));
  const state: SenderState = { maxBodyBytes: opts.maxBodyBytes, now: opts.now, inFlight: new Set(), isStopped: false };
  const onStop = () => {
    state.isStopped = true;
    for (const c of state.inFlight) c.cancel();
  };
  if (opts.signal?.aborted === true) onStop();
  opts.signal?.addEventListener('abort', onStop, { once: true });
  // undici's timeouts bound the wait for the head and between body chunks; a body that drips or
  // never ends would hold its request for ever. One sweep (not a timer per request) ends those.
  const sweep = setInterval(
    () => {
      const t = opts.now();
      for (const c of state.inFlight) {
        // in send order, so the first one still within its time ends the sweep
        if (t - c.start < opts.timeoutMs) break;
        c.expire(opts.timeoutMs);
      }
    },
    Math.max(10, Math.min(1000, opts.timeoutMs / 4)),
  );
  sweep.unref();
  return {
    origin: url.origin,
    send(req) {
      const start = opts.now();
      if (state.isStopped) return Promise.resolve(failure(new CancelledError('cancelled'), 0, true));
      return new Promise<SendOutcome>((resolve) => {
        const collector = new ResponseCollector(state, start, resolve);
        state.inFlight.add(collector);
        (req.version === '2' || opts.http2 === true ? h2() : pool).dispatch({ method: req.method, path: prefix === '' ? req.path : prefix + req.path, headers: req.headers, body: req.body ?? null }, collector);
      });
    },
    async close() {
      opts.signal?.removeEventListener('abort', onStop);
      clearInterval(sweep);
      await pool.destroy();
      await h2pool?.destroy();
    },
  };
}
