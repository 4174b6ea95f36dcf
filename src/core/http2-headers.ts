/**
 * Moving an exchange between HTTP/2 and HTTP/1.1 (RFC 9113 §8): the request
 * pseudo-headers become the method, the url and the authority (§8.3.1), the
 * authority becomes Host for an HTTP/1.1 hop, and split Cookie fields are
 * joined again (§8.2.3). Connection-specific fields are never sent on
 * HTTP/2 (§8.2.2); capture/hop-by-hop.ts drops them for both versions, keeping only
 * `te: trailers`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse, IncomingHttpHeaders } from 'node:http2';
import type { Readable } from 'node:stream';

/** What an HTTP/2 request's raw header list holds once the pseudo-headers are taken out. */
export interface Http2RequestHead {
  /** regular fields, as sent, cookie crumbs joined with "; " */
  headers: string[];
  /** :authority, or the Host field when a client sent that instead (§8.3.1) */
  authority: string | undefined;
}

/** True for a request that arrived over HTTP/2 (the compatibility API's req). */
export function isHttp2Request(req: IncomingMessage | Http2ServerRequest): req is Http2ServerRequest {
  return req.httpVersionMajor === 2;
}

/** Splits an HTTP/2 raw header list into regular fields and the authority. */
export function http2RequestHead(raw: readonly string[]): Http2RequestHead {
  const headers: string[] = [];
  let authority: string | undefined;
  let cookie: string | undefined;
  let cookieAt = -1;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    if (name.charCodeAt(0) === 58 /* ':' */) {
      if (name === ':authority') authority = value;
      continue;
    }
    if (name === 'cookie') {
      // §8.2.3: a client may split Cookie into one field per crumb; HTTP/1.1 wants one field.
      if (cookieAt < 0) {
        cookieAt = headers.length;
        cookie = value;
        headers.push(name, value);
      } else {
        cookie = `${cookie as string}; ${value}`;
        headers[cookieAt + 1] = cookie;
      }
      continue;
    }
    if (name === 'host' && authority === undefined) authority = value;
    headers.push(name, value);
  }
  return { headers, authority };
}

/**
 * The request's fields as an HTTP/1.1 hop sees them: HTTP/1.x requests as
 * received; HTTP/2 ones without pseudo-headers and with the authority as
 * Host (first, as RFC 9112 §3.2 asks), so matching and forwarding read one shape.
 */
export function http1HeadersOf(req: IncomingMessage | Http2ServerRequest): readonly string[] {
  if (!isHttp2Request(req)) return req.rawHeaders;
  const head = http2RequestHead(req.rawHeaders);
  if (head.authority === undefined || head.headers.some((_, i) => i % 2 === 0 && head.headers[i] === 'host')) return head.headers;
  return ['host', head.authority, ...head.headers];
}

/**
 * Pool options that make undici speak HTTP/2 to an origin: ALPN h2 over TLS
 * (http/1.1 stays possible there), prior knowledge (h2c) in clear text.
 * useH2c goes inside `connect`: Pool builds its connector from `connect` and
 * passes no top-level useH2c on (undici 7 lib/dispatcher/pool.js).
 */
export function http2PoolOptions<C extends object>(origin: string, connect: C): { allowH2: true; connect: C & { useH2c?: true } } {
  return { allowH2: true, connect: origin.startsWith('http:') ? { ...connect, useH2c: true as const } : connect };
}

/** Whether an HTTP/2 request has a body: the client did not end its stream with the headers. */
export function http2HasBody(req: Http2ServerRequest): boolean {
  return !req.stream.endAfterHeaders;
}

/**
 * A request body for undici's HTTP/2 client as an async iterable rather than
 * a stream: with a stream it reports the response's chunks as sent body
 * (undici 7 client-h2.js writeStream listens on the pipeline's end, the
 * HTTP/2 stream), with an iterable it reports each request chunk it writes.
 */
export function iterableBody(req: Http2ServerRequest | IncomingMessage | Readable): AsyncIterable<Buffer> {
  return { [Symbol.asyncIterator]: () => req[Symbol.asyncIterator]() as AsyncIterator<Buffer> };
}

/** Trailers from undici, a raw list from its HTTP/1 client or a header object from its HTTP/2 client, as a flat list. */
export function flatTrailers(trailers: readonly (string | Buffer)[] | IncomingHttpHeaders | null | undefined): string[] {
  if (trailers === null || trailers === undefined) return [];
  if (Array.isArray(trailers)) {
    const out: string[] = new Array<string>(trailers.length);
    for (let i = 0; i < trailers.length; i++) {
      const v = trailers[i] as string | Buffer;
      out[i] = typeof v === 'string' ? v : v.toString('latin1');
    }
    return out;
  }
  const out: string[] = [];
  for (const [name, value] of Object.entries(trailers as IncomingHttpHeaders)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) out.push(name, v);
    else out.push(name, value);
  }
  return out;
}

/** A flat name/value list as Node's HTTP/2 header object: names in lower case, repeated ones as arrays. */
export function headerObjectOf(flat: readonly string[]): Record<string, string | string[]> {
  const obj: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const name = (flat[i] as string).toLowerCase();
    const value = flat[i + 1] as string;
    const had = obj[name];
    obj[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
  }
  return obj;
}

/** Sets trailers on a response of either version: HTTP/2's compatibility response takes them one by one. */
export function addResponseTrailers(res: ServerResponse | Http2ServerResponse, flat: readonly string[]): void {
  if ('stream' in res) {
    res.addTrailers(headerObjectOf(flat));
    return;
  }
  const tuples: Array<[string, string]> = [];
  for (let i = 0; i + 1 < flat.length; i += 2) tuples.push([flat[i] as string, flat[i + 1] as string]);
  res.addTrailers(tuples);
}

