/**
 * One proxied HTTP/1.1 exchange on its way through the capture proxy: the
 * undici dispatch handler that relays the upstream's answer to the client
 * and keeps what the recorder needs, plus the per-connection tags the proxy
 * hangs on client sockets.
 */
import { addResponseTrailers, flatTrailers } from '../core/http2-headers.js';
import { errorCodeOf } from '../core/peer-failure.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { forwardResponseHeaders } from '../protocols/http/hop-by-hop.js';
import type { BodyTap } from './body-tap.js';

export const kConnId = Symbol('doppel.connectionId');
/** The latest exchange on a connection whose request has a body, or 'refused' once a request was answered as malformed. */
export const kBodyExchange = Symbol('doppel.bodyExchange');
/** tls.version and tls.alpn of the connection, read once after its handshake */
export const kTlsTags = Symbol('doppel.tlsTags');
export type TaggedSocket = Socket & {
  [kConnId]?: string;
  [kBodyExchange]?: ProxyHandler | 'refused' | undefined;
  [kTlsTags]?: Record<string, string> | undefined;
  _httpMessage?: ServerResponse | null;
};

function errorCode(err: unknown): string {
  return errorCodeOf(err) ?? 'UNKNOWN';
}

/** The error code of an exchange whose client left first: not an upstream failure. */
export const CLIENT_CLOSED = 'CLIENT_CLOSED';

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);

export function sendError(res: ServerResponse, status: number, error: string, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ error, message });
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-doppel-error': error,
  });
  res.end(body);
}

/**
 * One proxied exchange, as an undici dispatch handler (the raw-list callbacks:
 * onHeaders gets the raw header Buffers, onComplete the raw trailers).
 * Not declared as Dispatcher.DispatchHandler: undici 7's typings give
 * onBodySent (size, total) while its HTTP/1 client calls it with the chunk
 * (lib/dispatcher/client-h1.js, AsyncWriter.write), which is what the tap needs.
 */
export class ProxyHandler {
  status: number | undefined;
  resHeaders: string[] | undefined;
  trailers: string[] | undefined;
  error: { code: string; message: string } | undefined;
  #abort: ((err?: Error) => void) | undefined;
  #cancelHold: (() => void) | undefined;
  #done = false;
  #resumeUpstream: (() => void) | undefined;
  /** a 'drain' listener is on the response: added only when a write is refused, since most responses never are */
  #awaitsDrain = false;
  readonly #onDrain = () => {
    this.#awaitsDrain = false;
    this.#resumeUpstream?.();
  };

  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly reqTap: BodyTap | undefined;
  readonly resTap: BodyTap | undefined;
  readonly finish: (h: ProxyHandler) => void;

  constructor(req: IncomingMessage, res: ServerResponse, reqTap: BodyTap | undefined, resTap: BodyTap | undefined, finish: (h: ProxyHandler) => void) {
    this.req = req;
    this.res = res;
    this.reqTap = reqTap;
    this.resTap = resTap;
    this.finish = finish;
    // Date comes from the upstream's headers; Node must not add a second one.
    res.sendDate = false;
  }

  holdBody(cancel: () => void): void {
    this.#cancelHold = cancel;
  }

  /** The request was refused as malformed: nothing more goes upstream, nothing is recorded. */
  refuse(): void {
    this.#cancelHold?.();
    if (this.#done) return;
    this.#done = true;
    this.#stopAwaitingDrain();
    // Cuts the upstream connection before the request completes (or, still queued, at onConnect).
    this.#abort?.(new Error('request refused as malformed'));
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort;
    if (this.#done) abort(new Error('client went away'));
  }

  onBodySent(chunk: Buffer | string): void {
    this.reqTap?.add(chunk, false);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    // 1xx interim responses (e.g. 103 Early Hints) are not relayed; the final response follows.
    if (statusCode < 200) return true;
    this.status = statusCode;
    const headers = forwardResponseHeaders(rawHeaders);
    this.resHeaders = headers;
    this.#resumeUpstream = resume;
    if (this.#done) return false;
    try {
      // An HTTP/2 upstream (--upstream-h2) gives no reason phrase: the client then gets Node's usual one.
      if (statusText === '') this.res.writeHead(statusCode, headers);
      else this.res.writeHead(statusCode, statusText, headers);
    } catch (err) {
      // A header the upstream sent that Node refuses to relay: the exchange fails as 502.
      this.#abort?.(err as Error);
      return false;
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.resTap?.add(chunk, true);
    if (this.#done) return false;
    if (this.res.write(chunk)) return true;
    if (!this.#awaitsDrain) {
      this.#awaitsDrain = true;
      this.res.once('drain', this.#onDrain);
    }
    return false;
  }

  #stopAwaitingDrain(): void {
    if (!this.#awaitsDrain) return;
    this.#awaitsDrain = false;
    this.res.off('drain', this.#onDrain);
  }

  onComplete(trailers: Parameters<typeof flatTrailers>[0]): void {
    const flat = flatTrailers(trailers);
    if (flat.length > 0) this.trailers = flat;
    if (!this.#done) {
      if (flat.length > 0) addResponseTrailers(this.res, flat);
      this.res.end();
    }
    this.#complete();
  }

  onError(err: Error): void {
    const code = errorCode(err);
    // The first cause stands: a client that closed first aborts the upstream request, and undici may
    // report that abort here before the close is counted, which read as an upstream failure.
    this.error ??= { code, message: err.message };
    if (!this.#done && !this.res.headersSent) {
      if (TIMEOUT_CODES.has(code)) sendError(this.res, 504, 'upstream_timeout', `upstream did not answer in time (${code})`);
      else sendError(this.res, 502, 'upstream_unavailable', `upstream failed: ${err.message} (${code})`);
      if (!this.req.readableEnded && !this.req.destroyed) {
        // The upstream never took the body: read the rest so the record of the failure shows what was sent.
        const tap = this.reqTap;
        if (tap) this.req.on('data', (c: Buffer) => tap.add(c, false));
        const done = () => this.#complete();
        this.req.once('end', done);
        this.req.once('close', done);
        this.req.resume();
        return;
      }
    } else if (!this.#done) {
      // Headers already went out: the only honest signal left is to cut the connection.
      this.res.destroy(err);
    }
    this.#complete();
  }

  /** The response closed (finished or cut): the connection no longer points here, so nothing outlives it. */
  onClientClose(): void {
    this.#cancelHold?.();
    const socket = this.req.socket as TaggedSocket | null;
    if (socket !== null && socket[kBodyExchange] === this) socket[kBodyExchange] = undefined;
    if (this.res.writableFinished || this.#done) return;
    this.#done = true;
    this.error ??= { code: CLIENT_CLOSED, message: 'client closed the connection before the response completed' };
    this.#abort?.(new Error('client closed the connection'));
    this.finish(this);
  }

  #complete(): void {
    if (this.#done) return;
    this.#done = true;
    this.#stopAwaitingDrain();
    this.finish(this);
  }
}
