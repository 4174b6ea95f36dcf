/**
 * A small, strict parser for one complete raw HTTP/1.1 message held in a
 * buffer (RFC 9112): start line, CRLF-terminated header fields without
 * obsolete line folding (§5.2), and the body framed by Transfer-Encoding
 * chunked (§7.1) or Content-Length (§6.2), else none for a request and the
 * rest of the payload for a response (§6.3).
 */
import type { HeaderPairs } from '../core/exchange.js';

export class HttpMessageError extends Error {}

const fail = (message: string): never => {
  throw new HttpMessageError(message);
};

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([^\s]+) HTTP\/1\.[01]$/;
const STATUS_LINE = /^HTTP\/1\.[01] ([1-9]\d\d)(?: [^\r\n]*)?$/;

export interface ParsedHttp1Request {
  method: string;
  /** origin-form target; an absolute-form target is reduced to path + query */
  url: string;
  headers: HeaderPairs;
  body: Buffer;
}

export interface ParsedResponse {
  status: number;
  headers: HeaderPairs;
  trailers: HeaderPairs;
  body: Buffer;
}

/**
 * Optional whitespace around a field value is SP and HTAB only (RFC 9112
 * §5.1); String.prototype.trim would also eat VT, FF and the latin1 NBSP,
 * which belong to the value.
 */
function trimOws(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && (value[start] === ' ' || value[start] === '\t')) start++;
  while (end > start && (value[end - 1] === ' ' || value[end - 1] === '\t')) end--;
  return value.slice(start, end);
}

function splitHead(buf: Buffer): { startLine: string; headers: HeaderPairs; rest: Buffer } {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) fail('the header section does not end with an empty line (CRLF CRLF)');
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const startLine = lines[0] ?? '';
  const headers: HeaderPairs = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.startsWith(' ') || line.startsWith('\t')) fail(`header line ${i}: obsolete line folding is not accepted (RFC 9112 §5.2)`);
    const colon = line.indexOf(':');
    const name = colon === -1 ? '' : line.slice(0, colon);
    if (!TOKEN.test(name)) fail(`header line ${i}: ${JSON.stringify(line.slice(0, 60))} is not "name: value"`);
    if (line.includes('\n') || line.includes('\r')) fail(`header line ${i}: stray CR or LF`);
    if (line.includes('\0')) fail(`header line ${i}: NUL in a field value (RFC 9110 §5.5)`);
    headers.push([name, trimOws(line.slice(colon + 1))]);
  }
  return { startLine, headers, rest: buf.subarray(end + 4) };
}

function values(headers: HeaderPairs, lower: string): string[] {
  const out: string[] = [];
  for (const [k, v] of headers) if (k.toLowerCase() === lower) out.push(v);
  return out;
}

type ChunkStep = 'size' | 'data' | 'data-end' | 'trailers' | 'done';

/** Decodes a chunked body (RFC 9112 §7.1); the message must end after the trailer section. */
function decodeChunked(buf: Buffer): { body: Buffer; trailers: HeaderPairs } {
  const parts: Buffer[] = [];
  const trailers: HeaderPairs = [];
  let pos = 0;
  let size = 0;
  let step: ChunkStep = 'size';
  for (;;) {
    switch (step) {
      case 'size': {
        const eol = buf.indexOf('\r\n', pos);
        if (eol === -1) fail('chunked body: cut off in a chunk size line');
        const m = /^([0-9A-Fa-f]{1,8})(;.*)?$/.exec(buf.subarray(pos, eol).toString('latin1'));
        if (!m) fail(`chunked body: bad chunk size line at byte ${pos}`);
        size = parseInt((m as RegExpExecArray)[1] as string, 16);
        pos = eol + 2;
        step = size === 0 ? 'trailers' : 'data';
        break;
      }
      case 'data':
        if (pos + size > buf.length) fail(`chunked body: chunk of ${size} bytes is cut off`);
        parts.push(buf.subarray(pos, pos + size));
        pos += size;
        step = 'data-end';
        break;
      case 'data-end':
        if (buf[pos] !== 0x0d || buf[pos + 1] !== 0x0a) fail(`chunked body: no CRLF after chunk data at byte ${pos}`);
        pos += 2;
        step = 'size';
        break;
      case 'trailers': {
        const eol = buf.indexOf('\r\n', pos);
        if (eol === -1) fail('chunked body: the trailer section does not end with an empty line');
        const line = buf.subarray(pos, eol).toString('latin1');
        pos = eol + 2;
        if (line === '') step = 'done';
        else {
          const colon = line.indexOf(':');
          if (colon <= 0 || !TOKEN.test(line.slice(0, colon))) fail(`chunked body: bad trailer line ${JSON.stringify(line.slice(0, 60))}`);
          trailers.push([line.slice(0, colon), trimOws(line.slice(colon + 1))]);
        }
        break;
      }
      case 'done':
        if (pos !== buf.length) fail(`${buf.length - pos} bytes after the last chunk`);
        return { body: Buffer.concat(parts), trailers };
      default: {
        const never: never = step;
        return never;
      }
    }
  }
}

function frameBody(headers: HeaderPairs, rest: Buffer, untilEnd: boolean): { body: Buffer; trailers: HeaderPairs } {
  const te = values(headers, 'transfer-encoding');
  if (te.length > 0) {
    const codings = te.join(',').split(',').map((c) => c.trim().toLowerCase());
    // chunked must be the final coding (RFC 9112 §6.3 item 4)
    if (codings[codings.length - 1] !== 'chunked') fail(`Transfer-Encoding ${te.join(', ')} does not end in chunked`);
    if (values(headers, 'content-length').length > 0) fail('both Transfer-Encoding and Content-Length are present (RFC 9112 §6.3)');
    return decodeChunked(rest);
  }
  const cl = values(headers, 'content-length');
  if (cl.length > 0) {
    const distinct = new Set(cl.flatMap((v) => v.split(',').map((x) => x.trim())));
    const only = [...distinct][0] ?? '';
    if (distinct.size !== 1 || !/^\d{1,15}$/.test(only)) fail(`Content-Length ${cl.join(', ')} is not one decimal length`);
    const n = Number(only);
    if (rest.length < n) fail(`body is cut off: Content-Length ${n}, ${rest.length} bytes present`);
    if (rest.length > n) fail(`${rest.length - n} bytes after the Content-Length body`);
    return { body: rest.subarray(0, n), trailers: [] };
  }
  if (!untilEnd && rest.length > 0) fail(`${rest.length} bytes after a request without Content-Length or chunked framing`);
  return { body: rest, trailers: [] };
}

export function parseHttpRequest(buf: Buffer): ParsedHttp1Request {
  const { startLine, headers, rest } = splitHead(buf);
  const m = REQUEST_LINE.exec(startLine);
  if (!m) fail(`bad request line ${JSON.stringify(startLine.slice(0, 80))}`);
  const [, method, target] = m as RegExpExecArray as unknown as [string, string, string];
  let url = target;
  if (!target.startsWith('/')) {
    if (target === '*') url = '*';
    else {
      try {
        const u = new URL(target);
        url = u.pathname + u.search;
      } catch {
        fail(`bad request target ${JSON.stringify(target.slice(0, 80))}`);
      }
    }
  }
  return { method, url, headers, body: frameBody(headers, rest, false).body };
}

/** `noBody`: the answer to HEAD, or a 1xx/204/304, carries no content (RFC 9112 §6.3 item 1). */
export function parseHttpResponse(buf: Buffer, requestMethod?: string): ParsedResponse {
  const { startLine, headers, rest } = splitHead(buf);
  const m = STATUS_LINE.exec(startLine);
  if (!m) fail(`bad status line ${JSON.stringify(startLine.slice(0, 80))}`);
  const status = Number((m as RegExpExecArray)[1]);
  if (requestMethod === 'HEAD' || status < 200 || status === 204 || status === 304) {
    if (rest.length > 0) fail(`${rest.length} bytes after a response that carries no content`);
    return { status, headers, trailers: [], body: Buffer.alloc(0) };
  }
  const { body, trailers } = frameBody(headers, rest, true);
  return { status, headers, trailers, body };
}
