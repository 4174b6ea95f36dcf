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

/** gRPC puts grpc-status in the response head only in a Trailers-Only answer (PROTOCOL-HTTP2.md "Responses"). */
function isTrailersOnly(headers: readonly string[]): boolean {
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    if (name.length === 11 && name.toLowerCase() === 'grpc-status') return true;
  }
  return false;
}

/** Status and fields set on a response without writing them, so its end() sends them with END_STREAM. */
function setHeadersOnly(res: ServerResponse, statusCode: number, flat: readonly string[]): void {
  res.statusCode = statusCode;
  const byName = new Map<string, string[]>();
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const name = (flat[i] as string).toLowerCase();
    const values = byName.get(name);
    if (values === undefined) byName.set(name, [flat[i + 1] as string]);
    else values.push(flat[i + 1] as string);
  }
  for (const [name, values] of byName) res.setHeader(name, values.length === 1 ? (values[0] as string) : values);
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
  /** a Trailers-Only head not yet written (HTTP/2 clients) */
  #heldHead: { statusCode: number; statusText: string } | undefined;
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
    if (this.req.httpVersionMajor === 2 && isTrailersOnly(headers)) {
      // gRPC's Trailers-Only answer (status in one HEADERS frame that ends the stream, PROTOCOL-HTTP2.md):
      // written now, the head would go out without END_STREAM and a gRPC client would see a call with no status.
      this.#heldHead = { statusCode, statusText };
      return true;
    }
    return this.#sendHead(statusCode, statusText, headers);
  }

  #sendHead(statusCode: number, statusText: string, headers: string[]): boolean {
    try {
      // HTTP/2 has no reason phrase (RFC 9113 §8.3.2); Node warns when given one.
      // An HTTP/2 upstream gives no reason phrase either: an HTTP/1.1 client then gets Node's usual one.
      if (this.req.httpVersionMajor === 2 || statusText === '') this.res.writeHead(statusCode, headers);
      else this.res.writeHead(statusCode, statusText, headers);
    } catch (err) {
      // A header the upstream sent that Node refuses to relay: the exchange fails as 502.
      this.#abort?.(err as Error);
      return false;
    }
    return true;
  }

  /** A held head goes out as it came when a body or trailers follow after all. */
  #releaseHead(): boolean {
    const held = this.#heldHead;
    if (held === undefined) return true;
    this.#heldHead = undefined;
    return this.#sendHead(held.statusCode, held.statusText, this.resHeaders ?? []);
  }

  onData(chunk: Buffer): boolean {
    this.resTap?.add(chunk, true);
    if (this.#done || !this.#releaseHead()) return false;
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
      const held = this.#heldHead;
      if (held !== undefined && flat.length === 0) {
        // Headers set but not written: Node's compatibility response ends the stream with them (Trailers-Only).
        this.#heldHead = undefined;
        try {
          setHeadersOnly(this.res, held.statusCode, this.resHeaders ?? []);
          this.res.end();
        } catch (err) {
          // A field Node refuses to relay: the client sees a cut stream, never a made-up status.
          this.res.destroy(err as Error);
        }
      } else if (this.#releaseHead()) {
        if (flat.length > 0) addResponseTrailers(this.res, flat);
        this.res.end();
      }
    }
    this.#complete();
  }

  onError(err: Error): void {
    const code = errorCode(err);
    this.error = { code, message: err.message };
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
