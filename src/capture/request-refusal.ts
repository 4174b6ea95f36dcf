/**
 * The answers a proxy listener gives to requests it refuses as malformed, and
 * the bounded `reason` label they are counted under
 * (doppel_http_bad_requests_total{service,reason}).
 *
 * Statuses follow Node's own server (lib/_http_server.js socketOnError): 431
 * for a header section too large, 413 for chunk extensions too large, 408 for
 * a request not received in time, 400 for everything else the parser refuses.
 * The transfer-coding rules are RFC 9112's: a request whose final transfer
 * coding is not chunked cannot be framed and gets 400 and a close (§6.3); a
 * coding the proxy does not implement in front of chunked gets 501 (§6.1);
 * Transfer-Encoding on an HTTP/1.0 request is faulty framing (§6.1).
 */
import type { Socket } from 'node:net';

export type BadRequestReason =
  /** request line or header section the parser refused (includes Content-Length with Transfer-Encoding) */
  | 'malformed_head'
  /** body framing refused after the head: chunk size or data, chunked not final, Content-Length in trailers */
  | 'malformed_framing'
  /** header section, trailers or chunk extensions over the parser's limit */
  | 'too_large'
  /** a transfer coding other than chunked (RFC 9112 §6.1: 501) */
  | 'unsupported_transfer_coding'
  /** request head or body not received within the listener's timeouts */
  | 'timeout';

export interface Refusal {
  status: number;
  reason: BadRequestReason;
  message: string;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  413: 'Content Too Large',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
};

/**
 * What to answer for a parser error. `afterHead` says the request head was
 * accepted (its response slot exists) and the error is in the body's framing.
 */
export function refusalForParseError(code: string, detail: string, afterHead: boolean): Refusal {
  const what = `${code || 'parse error'}${detail === '' ? '' : `: ${detail}`}`;
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, reason: 'too_large', message: `request header section too large (${what})` };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { status: 413, reason: 'too_large', message: `chunk extensions too large (${what})` };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, reason: 'timeout', message: 'request not received in time' };
    default:
      return afterHead
        ? { status: 400, reason: 'malformed_framing', message: `malformed request body framing (${what})` }
        : { status: 400, reason: 'malformed_head', message: `malformed HTTP request (${what})` };
  }
}

/**
 * Checks a Transfer-Encoding the parser let through (it already refuses
 * `chunked` twice, chunked before another coding, and Content-Length beside
 * it). Undefined when the request is plain chunked, which is all this proxy
 * forwards: transfer codings are hop-by-hop (RFC 9112 §7), so a `gzip` coding
 * in front of chunked would reach the origin as if the bytes were the content.
 */
export function refusalForTransferEncoding(te: string, httpVersionMinor: number): Refusal | undefined {
  if (httpVersionMinor === 0) {
    return { status: 400, reason: 'malformed_framing', message: 'Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1)' };
  }
  if (te.length === 7 && te.toLowerCase() === 'chunked') return undefined;
  const codings = te
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '');
  if (codings.length === 1 && codings[0] === 'chunked') return undefined;
  if (codings[codings.length - 1] !== 'chunked') {
    return { status: 400, reason: 'malformed_framing', message: `Transfer-Encoding "${te}": chunked is not the final coding (RFC 9112 §6.3)` };
  }
  return { status: 501, reason: 'unsupported_transfer_coding', message: `Transfer-Encoding "${te}": only chunked is supported (RFC 9112 §6.1)` };
}

/** The whole response, written straight to the socket: nothing of the request's own response went out. */
export function refusalBytes(r: Refusal): string {
  const error = r.status === 501 ? 'not_implemented' : 'bad_request';
  const body = JSON.stringify({ error, message: r.message });
  return (
    `HTTP/1.1 ${r.status} ${STATUS_TEXT[r.status] ?? 'Bad Request'}\r\nConnection: close\r\n` +
    `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Doppel-Error: ${error}\r\n\r\n${body}`
  );
}

/**
 * Sends the refusal and closes once it is flushed. The client may still be
 * sending a body nobody will read: waiting for its end would let it hold the
 * connection, so the socket is destroyed as soon as the answer left.
 */
export function sendRefusal(socket: Socket, r: Refusal): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(refusalBytes(r), () => socket.destroy());
}
