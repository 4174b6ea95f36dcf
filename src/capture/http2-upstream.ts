/**
 * The record proxy's HTTP/2 upstream on Node's own http2 session, one stream
 * per request (RFC 9113 §5), so a held stream never delays another: h2c by
 * prior knowledge (§3.3) for http:// origins; for https:// ones a TLS
 * connection of its own (the target's CA, client certificate and
 * verification) offering h2 and http/1.1 by ALPN (RFC 7301), HTTP/2 on that
 * socket when the origin picks h2, and otherwise an undici pool over
 * HTTP/1.1 from then on. It takes the same handler undici's dispatch does,
 * and has a fast path (`request`) for a handler that relays to an HTTP/2
 * client itself. Undici's HTTP/2 client on top of the same session was about
 * 28% of the HTTP/2 proxy's CPU in a profile (docs/http.md, "HTTP/2 cost").
 */
import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import type { Dispatcher, Pool } from 'undici';
import { iterableBody } from '../core/http2-headers.js';
import { requestWithLeanAsyncBind } from '../core/lean-async-bind.js';
import type { TargetTls } from '../core/tls.js';

/** What undici's dispatch calls on a handler; ProxyHandler implements it. */
export interface UpstreamHandler {
  onConnect(abort: (err?: Error) => void): void;
  onBodySent(chunk: Buffer): void;
  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean;
  onData(chunk: Buffer): boolean;
  onComplete(trailers: IncomingHttpHeaders | null): void;
  onError(err: Error): void;
}

/**
 * The fast path for a handler that relays to an HTTP/2 client itself: the response head as
 * Node's header object (no Buffer round trip), and whether the upstream ended the stream with
 * it (a gRPC Trailers-Only answer must go on as one HEADERS frame with END_STREAM).
 */
export interface StreamUpstreamHandler {
  onConnect(abort: (err?: Error) => void): void;
  onBodySent(chunk: Buffer): void;
  onResponse(statusCode: number, headers: IncomingHttpHeaders, isEndOfStream: boolean, resume: () => void): boolean;
  onData(chunk: Buffer): boolean;
  onComplete(trailers: IncomingHttpHeaders | null): void;
  onError(err: Error): void;
}

export interface Http2UpstreamOptions {
  /** a stream with no activity for this long fails as a timeout, before or after its head */
  upstreamMs: number;
  /** a session without streams for this long is closed */
  idleMs?: number;
  /** CA, client certificate and verification for an https:// origin */
  targetTls?: TargetTls | undefined;
  /**
   * https:// origins: where requests go when the origin's ALPN answer is not h2 (an undici
   * pool, HTTP/1.1); asked for once, on the first such answer.
   */
  http1Fallback?: (() => Pool) | undefined;
}

/** A queued request's two ways on once the TLS handshake decided: a session, or HTTP/1.1. */
interface Waiter {
  ready(to: ClientHttp2Session | 'http1'): void;
  fail(err: Error): void;
}

/** Connection fields HTTP/2 forbids (RFC 9113 §8.2.2); `te` is kept only as `trailers`. */
const CONNECTION_FIELDS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host']);

function codedError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

export class Http2Upstream {
  readonly #origin: string;
  readonly #opts: Http2UpstreamOptions;
  #session: ClientHttp2Session | undefined;
  #isClosed = false;
  readonly #isTls: boolean;
  /** requests that came while the TLS handshake (and its ALPN answer) was under way */
  #waiting: Waiter[] | undefined;
  /** the origin answered ALPN without h2: its requests go to the HTTP/1.1 fallback from then on */
  #http1: Pool | undefined;

  constructor(origin: string, opts: Http2UpstreamOptions) {
    this.#origin = origin;
    this.#opts = opts;
    this.#isTls = origin.startsWith('https:');
  }

  #liveSession(): ClientHttp2Session | undefined {
    const current = this.#session;
    return current !== undefined && !current.closed && !current.destroyed ? current : undefined;
  }

  /** Calls `ready` with a live session (or 'http1') now, or once the TLS handshake says which. */
  #whenReady(w: Waiter): void {
    if (this.#http1 !== undefined) return w.ready('http1');
    const current = this.#liveSession();
    if (current !== undefined) return w.ready(current);
    if (!this.#isTls) return w.ready(this.#adopt(connect(this.#origin)));
    if (this.#waiting !== undefined) {
      this.#waiting.push(w);
      return;
    }
    this.#waiting = [w];
    this.#handshake();
  }

  /**
   * TLS with ALPN h2 and http/1.1 (RFC 7301), verified with the target's TLS options, then
   * HTTP/2 on that socket if the origin picked h2; anything else sends this request and all
   * later ones to the HTTP/1.1 fallback, as undici's allowH2 pool would.
   */
  #handshake(): void {
    const url = new URL(this.#origin);
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const connectMs = Math.min(this.#opts.upstreamMs, 10_000);
    const socket = tlsConnect({
      host,
      port: url.port === '' ? 443 : Number(url.port),
      ALPNProtocols: ['h2', 'http/1.1'],
      // RFC 6066 §3: SNI carries host names only
      ...(isIP(host) === 0 ? { servername: host } : {}),
      ...this.#opts.targetTls,
    });
    const take = (): Waiter[] => {
      const w = this.#waiting ?? [];
      this.#waiting = undefined;
      return w;
    };
    const timer = setTimeout(() => socket.destroy(codedError('UND_ERR_CONNECT_TIMEOUT', `no TLS connection to ${this.#origin} within ${connectMs} ms`)), connectMs);
    const onError = (err: Error) => {
      clearTimeout(timer);
      for (const w of take()) w.fail(err);
    };
    socket.once('error', onError);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      const waiting = take();
      if (this.#isClosed) {
        // closed while the handshake ran: nothing may open a session close() no longer sees
        socket.destroy();
        for (const w of waiting) w.fail(codedError('UND_ERR_CLOSED', 'the HTTP/2 upstream is closed'));
        return;
      }
      if (socket.alpnProtocol === 'h2') {
        const session = this.#adopt(connect(this.#origin, { createConnection: () => socket }));
        for (const w of waiting) w.ready(session);
        return;
      }
      socket.destroy();
      this.#http1 = this.#opts.http1Fallback?.();
      for (const w of waiting) {
        if (this.#http1 === undefined) w.fail(codedError('UND_ERR_INFO', `${this.#origin} did not offer h2 by ALPN`));
        else w.ready('http1');
      }
    });
  }

  #adopt(session: ClientHttp2Session): ClientHttp2Session {
    const forget = () => {
      if (this.#session === session) this.#session = undefined;
    };
    // Each open stream gets the failure itself; the session only has to stop being handed out.
    session.on('error', forget);
    session.on('close', forget);
    session.on('goaway', forget);
    session.setTimeout(this.#opts.idleMs ?? 4_000, () => {
      forget();
      session.close();
    });
    this.#session = session;
    return session;
  }

  dispatch(path: string, method: string, headers: readonly string[], body: Buffer | AsyncIterable<Buffer> | null, handler: UpstreamHandler): void {
    if (this.#isClosed) {
      handler.onError(codedError('UND_ERR_CLOSED', 'the HTTP/2 upstream is closed'));
      return;
    }
    const head: OutgoingHttpHeaders = { ':method': method, ':path': path };
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const name = (headers[i] as string).toLowerCase();
      const value = headers[i + 1] as string;
      if (name === 'host') head[':authority'] = value;
      if (CONNECTION_FIELDS.has(name) || (name === 'te' && value.toLowerCase() !== 'trailers')) continue;
      const prev = head[name];
      head[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [String(prev), value];
    }
    this.#whenReady({
      ready: (to) => {
        if (to === 'http1') {
          this.#fallback({ path, method, headers: [...headers], body: body as never }, handler);
          return;
        }
        const stream = this.#open(to, head, body === null, handler);
        if (stream !== undefined) new UpstreamStream(stream, handler, this.#opts.upstreamMs).send(body);
      },
      fail: (err) => handler.onError(err),
    });
  }

  #fallback(opts: Dispatcher.DispatchOptions, handler: UpstreamHandler | (StreamUpstreamHandler & Pick<UpstreamHandler, 'onHeaders'>)): void {
    try {
      (this.#http1 as Pool).dispatch(opts, handler as unknown as Dispatcher.DispatchHandler);
    } catch (err) {
      handler.onError(err as Error);
    }
  }

  /**
   * One stream with a head already in HTTP/2's shape (pseudo-headers, lower-case names, no
   * connection fields), its body piped from `body` with backpressure.
   */
  request(head: OutgoingHttpHeaders, body: Readable | null, handler: StreamUpstreamHandler & Pick<UpstreamHandler, 'onHeaders'>): void {
    if (this.#isClosed) {
      handler.onError(codedError('UND_ERR_CLOSED', 'the HTTP/2 upstream is closed'));
      return;
    }
    // The usual case, a live session, without the closures a waiting request needs.
    const live = this.#liveSession();
    if (live !== undefined) {
      const stream = this.#open(live, head, body === null, handler);
      if (stream !== undefined) new UpstreamStream(stream, handler, this.#opts.upstreamMs).pipe(body);
      return;
    }
    this.#whenReady({
      ready: (to) => {
        if (to === 'http1') {
          // undici reports each chunk of an iterable body to onBodySent (core/http2-headers.ts iterableBody).
          this.#fallback({ path: String(head[':path']), method: String(head[':method']), headers: http1FieldsOf(head), body: (body === null ? null : iterableBody(body)) as never }, handler);
          return;
        }
        const stream = this.#open(to, head, body === null, handler);
        if (stream !== undefined) new UpstreamStream(stream, handler, this.#opts.upstreamMs).pipe(body);
      },
      fail: (err) => handler.onError(err),
    });
  }

  #open(session: ClientHttp2Session, head: OutgoingHttpHeaders, isEndOfStream: boolean, handler: UpstreamHandler | StreamUpstreamHandler): ClientHttp2Stream | undefined {
    try {
      // Node 20 spends about 4 µs per call validating an options object it has to extend with the
      // priority defaults, so none is passed when Node's own default (END_STREAM for GET, HEAD and
      // DELETE) is what this stream needs.
      const method = head[':method'];
      const endsByDefault = method === 'GET' || method === 'HEAD' || method === 'DELETE';
      // request() binds per stream with a bind that costs Node 20 about 11 µs (core/lean-async-bind.ts).
      return endsByDefault === isEndOfStream
        ? requestWithLeanAsyncBind(session, head)
        : requestWithLeanAsyncBind(session, head, { endStream: isEndOfStream });
    } catch (err) {
      handler.onError(err as Error);
      return undefined;
    }
  }

  async close(): Promise<void> {
    this.#isClosed = true;
    await this.#http1?.close().catch(() => undefined);
    const s = this.#session;
    this.#session = undefined;
    if (s === undefined || s.closed) return;
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

/** An HTTP/2 head as an HTTP/1.1 field list: :authority as Host first (RFC 9112 §3.2), the other pseudo-headers dropped. */
function http1FieldsOf(head: OutgoingHttpHeaders): string[] {
  const out: string[] = [];
  const authority = head[':authority'];
  if (authority !== undefined) out.push('host', String(authority));
  for (const name in head) {
    if (name.charCodeAt(0) === 58 /* ':' */) continue;
    const v = head[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const one of v) out.push(name, one);
    else out.push(name, String(v));
  }
  return out;
}

/** The UpstreamStream a ClientHttp2Stream belongs to, so its listeners can be shared functions. */
const kOwner = Symbol('doppel.upstreamStream');
type OwnedStream = ClientHttp2Stream & { [kOwner]: UpstreamStream };

/** One request's stream: its events turned into the handler's calls, once each, in undici's order. */
class UpstreamStream {
  // The stream's listeners, one function for all streams: they find their UpstreamStream on the
  // stream (`this`), so opening a stream allocates no closures for them.
  static readonly #onTimeout = function (this: OwnedStream): void {
    const self = this[kOwner];
    const code = self.#hasHead ? 'UND_ERR_BODY_TIMEOUT' : 'UND_ERR_HEADERS_TIMEOUT';
    self.#fail(codedError(code, `upstream sent nothing for ${self.#upstreamMs} ms`));
  };
  static readonly #onResponseEvent = function (this: OwnedStream, h: IncomingHttpHeaders, flags: number): void {
    this[kOwner].#onResponse(h, flags);
  };
  static readonly #onTrailers = function (this: OwnedStream, t: IncomingHttpHeaders): void {
    this[kOwner].#trailers = t;
  };
  static readonly #onEnd = function (this: OwnedStream): void {
    const self = this[kOwner];
    if (self.#isFinished) return;
    self.#isFinished = true;
    self.#handler.onComplete(self.#trailers);
  };
  static readonly #onError = function (this: OwnedStream, err: Error): void {
    this[kOwner].#fail(err);
  };
  static readonly #onClose = function (this: OwnedStream): void {
    const self = this[kOwner];
    if (!self.#isFinished) self.#fail(codedError('ECONNRESET', `upstream closed the stream before the answer was whole (code ${this.rstCode ?? 0})`));
  };
  static readonly #onData = function (this: OwnedStream, chunk: Buffer): void {
    const self = this[kOwner];
    if (!self.#isFinished && !self.#handler.onData(chunk)) this.pause();
  };

  readonly #stream: ClientHttp2Stream;
  readonly #handler: UpstreamHandler | StreamUpstreamHandler;
  readonly #upstreamMs: number;
  #isFinished = false;
  #hasHead = false;
  #trailers: IncomingHttpHeaders | null = null;

  constructor(stream: ClientHttp2Stream, handler: UpstreamHandler | StreamUpstreamHandler, upstreamMs: number) {
    this.#stream = stream;
    this.#handler = handler;
    this.#upstreamMs = upstreamMs;
    (stream as OwnedStream)[kOwner] = this;
    stream.setTimeout(upstreamMs, UpstreamStream.#onTimeout);
    stream.on('response', UpstreamStream.#onResponseEvent);
    stream.on('trailers', UpstreamStream.#onTrailers);
    stream.on('end', UpstreamStream.#onEnd);
    stream.on('error', UpstreamStream.#onError);
    stream.on('close', UpstreamStream.#onClose);
    handler.onConnect((err) => {
      if (this.#isFinished) return;
      this.#fail(err ?? new Error('aborted'));
    });
  }

  #onResponse(h: IncomingHttpHeaders, flags: number): void {
    if (this.#isFinished) return;
    this.#hasHead = true;
    const stream = this.#stream;
    const resume = () => {
      if (!stream.destroyed) stream.resume();
    };
    const handler = this.#handler;
    // Node emits 'response' on the next tick but pushes DATA as it reads it. While the session has
    // a write in flight (over TLS, until the next turn) Node stops reading after a DATA frame and
    // reads the rest of the buffer from a native callback, with no tick in between: a HEADERS and
    // a DATA frame there would reach a 'data' listener first (test: record-proxy-relays-an-h2-
    // upstream-head-and-body-that-arrive-in-one-read). Taken from here on, the body waits in the
    // stream's buffer until the head is through.
    if ('onResponse' in handler) {
      // The flags of the HEADERS frame, not stream.endAfterHeaders: Node 20 sets that on server streams only.
      if (!handler.onResponse(Number(h[':status']), h, (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0, resume)) stream.pause();
      stream.on('data', UpstreamStream.#onData);
      return;
    }
    const raw: Buffer[] = [];
    for (const name of Object.keys(h)) {
      if (name.charCodeAt(0) === 58 /* ':' */) continue;
      const v = h[name];
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const one of v) raw.push(Buffer.from(name), Buffer.from(one));
      else raw.push(Buffer.from(name), Buffer.from(String(v)));
    }
    if (!handler.onHeaders(Number(h[':status']), raw, resume, '')) stream.pause();
    stream.on('data', UpstreamStream.#onData);
  }

  #fail(failure: Error): void {
    if (this.#isFinished) return;
    // A session that failed to connect cancels its streams with the socket's error as the cause (ECONNREFUSED, ...).
    const cause = (failure as { code?: unknown; cause?: unknown }).code === 'ERR_HTTP2_STREAM_CANCEL' ? (failure as { cause?: unknown }).cause : undefined;
    const err = cause instanceof Error ? cause : failure;
    this.#isFinished = true;
    if (!this.#stream.destroyed) this.#stream.close(constants.NGHTTP2_CANCEL);
    this.#handler.onError(err);
  }

  /** Relays a readable body chunk by chunk, pausing it while the upstream stream's window is full. */
  pipe(body: Readable | null): void {
    if (body === null) return;
    const stream = this.#stream;
    const handler = this.#handler;
    body.on('data', (chunk: Buffer) => {
      // After a failure the handler reads what is left itself; nothing more goes up.
      if (this.#isFinished) return;
      handler.onBodySent(chunk);
      if (!stream.write(chunk)) body.pause();
    });
    stream.on('drain', () => {
      if (!this.#isFinished) body.resume();
    });
    body.once('end', () => {
      if (!stream.destroyed) stream.end();
    });
  }

  send(body: Buffer | AsyncIterable<Buffer> | null): void {
    if (body === null) return;
    if (Buffer.isBuffer(body)) {
      this.#handler.onBodySent(body);
      this.#stream.end(body);
      return;
    }
    void this.#pump(body);
  }

  async #pump(body: AsyncIterable<Buffer>): Promise<void> {
    const stream = this.#stream;
    try {
      for await (const chunk of body) {
        if (this.#isFinished) return;
        this.#handler.onBodySent(chunk);
        if (!stream.write(chunk)) {
          await new Promise<void>((resolve) => {
            const done = () => {
              stream.off('drain', done);
              stream.off('close', done);
              resolve();
            };
            stream.on('drain', done);
            stream.on('close', done);
          });
        }
      }
      if (!stream.destroyed) stream.end();
    } catch (err) {
      this.#fail(err as Error);
    }
  }
}
