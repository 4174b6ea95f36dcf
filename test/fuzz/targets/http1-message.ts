/** The strict HTTP/1.1 message parser the GoReplay importer reads payloads with. */
import { expect } from 'vitest';
import fc from 'fast-check';
import type { HeaderPairs } from '../../../src/core/exchange.js';
import { HttpMessageError, parseHttpRequest, parseHttpResponse } from '../../../src/formats/http1-message.js';
import type { FuzzTarget } from '../fuzz-run.js';

function only<T>(parse: () => T): T | undefined {
  try {
    return parse();
  } catch (err) {
    if (err instanceof HttpMessageError) return undefined;
    throw err;
  }
}

function writeHead(startLine: string, headers: HeaderPairs): string {
  return `${startLine}\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
}

/** Writes a message back with Content-Length framing; other framing headers are dropped. */
function rewrite(startLine: string, headers: HeaderPairs, body: Buffer): Buffer {
  const kept = headers.filter(([k]) => !/^(content-length|transfer-encoding)$/i.test(k));
  return Buffer.concat([Buffer.from(writeHead(startLine, [...kept, ['Content-Length', String(body.length)]]), 'latin1'), body]);
}

/** The header fields as RFC 9112 §5 reads them: the value is what follows the colon, less SP and HTAB around it. */
function headerFieldsOf(input: Buffer): HeaderPairs {
  const head = input.subarray(0, input.indexOf('\r\n\r\n')).toString('latin1');
  return head
    .split('\r\n')
    .slice(1)
    .map((line) => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon), line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '')];
    });
}

/** Any bytes parse or fail with HttpMessageError; what parses writes back and parses to the same message. */
export function checkHttpMessage(input: Buffer): void {
  const req = only(() => parseHttpRequest(input));
  if (req !== undefined) expect(req.headers).toEqual(headerFieldsOf(input));
  if (req !== undefined && req.url.startsWith('/')) {
    const again = parseHttpRequest(rewrite(`${req.method} ${req.url} HTTP/1.1`, req.headers, req.body));
    expect(again.body.equals(req.body)).toBe(true);
    expect(again.headers.slice(0, -1)).toEqual(req.headers.filter(([k]) => !/^(content-length|transfer-encoding)$/i.test(k)));
  }
  const res = only(() => parseHttpResponse(input));
  if (res !== undefined) expect(res.headers).toEqual(headerFieldsOf(input));
  if (res !== undefined) {
    const again = parseHttpResponse(rewrite(`HTTP/1.1 ${res.status} X`, res.headers, res.body));
    if (res.status >= 200 && res.status !== 204 && res.status !== 304) expect(again.body.equals(res.body)).toBe(true);
  }
}

export const http1Target: FuzzTarget = { name: 'http1-message', ext: 'http', check: checkHttpMessage };

const tokenArb = fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}$/);
/** Field values: visible ASCII, obs-text and the whitespace-like bytes only SP and HTAB may be trimmed around. */
const valueCharArb = fc.oneof(fc.integer({ min: 0x21, max: 0x7e }), fc.constantFrom(0x20, 0x09, 0x0b, 0x0c, 0x85, 0xa0), fc.integer({ min: 0x80, max: 0xff }));
export const fieldValueArb = fc
  .array(valueCharArb, { maxLength: 12 })
  .map((cs) => String.fromCharCode(...cs).replace(/^[ \t]+|[ \t]+$/g, ''));

export const requestArb = fc.record({
  method: tokenArb,
  path: fc.stringMatching(/^\/[A-Za-z0-9/._~%?=&-]{0,20}$/),
  headers: fc.array(fc.tuple(tokenArb, fieldValueArb), { maxLength: 5 }).map((hs) => hs.filter(([k]) => !/^(content-length|transfer-encoding)$/i.test(k))),
  body: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
  isChunked: fc.boolean(),
});

/** A request written the way a client sends it, chunked or with Content-Length. */
export function writeRequest(r: { method: string; path: string; headers: HeaderPairs; body: Buffer; isChunked: boolean }): Buffer {
  if (!r.isChunked) return rewrite(`${r.method} ${r.path} HTTP/1.1`, r.headers, r.body);
  const head = writeHead(`${r.method} ${r.path} HTTP/1.1`, [...r.headers, ['Transfer-Encoding', 'chunked']]);
  const chunks = r.body.length === 0 ? '' : `${r.body.length.toString(16)}\r\n`;
  return Buffer.concat([Buffer.from(head + chunks, 'latin1'), r.body, Buffer.from(r.body.length === 0 ? '0\r\n\r\n' : '\r\n0\r\n\r\n', 'latin1')]);
}

/** Messages glued from HTTP pieces, so most runs reach the framing code. */
export const httpBytesArb = fc
  .array(
    fc.constantFrom('GET / HTTP/1.1', 'HTTP/1.1 200 OK', 'HTTP/1.0 204', '\r\n', 'Host: a', 'Content-Length: 3', 'Content-Length: 99999999999999999', 'Transfer-Encoding: chunked', 'Transfer-Encoding: gzip', ' folded', '5\r\nhello', '0', ';ext', 'abc', ':', '\t', '\x00', 'ffffffff'),
    { maxLength: 16 },
  )
  .map((ps) => Buffer.from(ps.join(''), 'latin1'));
