/**
 * HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/) to and from
 * exchanges. Import reads log.entries[]: request.method/url/headers/postData,
 * response.status/headers/content (text, encoding "base64"), startedDateTime
 * and time. Export writes one entry per HTTP exchange; doppel's own fields
 * ride along as "_"-prefixed custom fields, which the spec allows.
 *
 * Bodies in HAR are "HTTP decoded (decompressed & unchunked)" (HAR 1.2,
 * content): export undoes a Content-Encoding (bounded), keeps the header as
 * browsers do, and notes the sizes — content.size decoded, response.bodySize
 * as received, content.compression the bytes saved. Import takes such text
 * back with the header dropped (see alreadyDecoded).
 */
import { isUtf8 } from 'node:buffer';
import { contentEncodingOf, decodeContent, DEFAULT_DECODE_LIMIT, readableBody } from '../core/content-coding.js';
import { decodeBody, encodeBody, httpVersionOf, type HeaderPairs, type HttpExchange } from '../core/exchange.js';
import { isIdTime, newExchangeId } from '../core/ids.js';
import type { SkippedRecord } from './import-report.js';

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

class EntryError extends Error {}
function bad(message: string): never {
  throw new EntryError(message);
}

export interface HarImportOptions {
  /** who answered; default: the entry's _service, else the URL's host */
  service: string | undefined;
  file: string;
}

/** The entries list of a parsed HAR document, or undefined when it has none. */
export function harEntries(doc: unknown): unknown[] | undefined {
  if (!isObj(doc) || !isObj(doc.log) || !Array.isArray(doc.log.entries)) return undefined;
  return doc.log.entries as unknown[];
}

function headerPairs(v: unknown, where: string): HeaderPairs {
  if (v === undefined) return [];
  if (!Array.isArray(v)) bad(`${where}: expected a list of {name, value}`);
  const out: HeaderPairs = [];
  v.forEach((h, i) => {
    if (!isObj(h) || typeof h.name !== 'string' || typeof h.value !== 'string') bad(`${where}[${i}]: expected {name, value} strings`);
    // HTTP/2 pseudo-headers (RFC 9113 §8.3) are not fields of an HTTP/1.1 message.
    if (!h.name.startsWith(':')) out.push([h.name, h.value]);
  });
  return out;
}

function textBody(text: unknown, encoding: unknown, where: string): Buffer {
  if (text === undefined) return Buffer.alloc(0);
  if (typeof text !== 'string') bad(`${where}.text: expected a string`);
  if (encoding === 'base64') return Buffer.from(text, 'base64');
  if (encoding !== undefined && encoding !== '') bad(`${where}.encoding: ${JSON.stringify(encoding)} is not supported (only "base64")`);
  return Buffer.from(text, 'utf8');
}

function requestBody(postData: unknown): Buffer {
  if (postData === undefined) return Buffer.alloc(0);
  if (!isObj(postData)) bad('request.postData: expected an object');
  if (postData.text !== undefined) return textBody(postData.text, postData.encoding, 'request.postData');
  if (Array.isArray(postData.params)) {
    const form = new URLSearchParams();
    for (const p of postData.params) if (isObj(p) && typeof p.name === 'string') form.append(p.name, typeof p.value === 'string' ? p.value : '');
    return Buffer.from(form.toString(), 'utf8');
  }
  return Buffer.alloc(0);
}

/**
 * Browsers store content.text decoded but keep the Content-Encoding field.
 * Served as is, such a body would be announced as gzip and fail in clients,
 * so when the body does not decode with the announced coding, the field
 * (and the Content-Length of the encoded form) is dropped. A body that
 * decodes (or inflates past the cap: valid so far), or whose coding is
 * unknown here, keeps its headers.
 */
function alreadyDecoded(headers: HeaderPairs, body: Buffer): HeaderPairs {
  const ce = contentEncodingOf(headers);
  if (ce === undefined || body.length === 0) return headers;
  const d = decodeContent(body, ce, DEFAULT_DECODE_LIMIT);
  if (d.isDecoded || d.reason !== 'corrupt') return headers;
  return headers.filter(([k]) => k.toLowerCase() !== 'content-encoding' && k.toLowerCase() !== 'content-length');
}

/** One HAR entry as an inbound exchange; throws EntryError when it cannot be one. */
function entryToExchange(entry: unknown, opts: HarImportOptions): HttpExchange {
  if (!isObj(entry)) bad('expected an entry object');
  const req = entry.request;
  const res = entry.response;
  if (!isObj(req)) bad('request: expected an object');
  if (!isObj(res)) bad('response: expected an object');
  if (typeof req.method !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(req.method)) bad('request.method: expected an HTTP method token');
  if (typeof req.url !== 'string') bad('request.url: expected a string');
  let url: URL;
  try {
    url = new URL(req.url);
  } catch {
    bad(`request.url: ${JSON.stringify(req.url)} is not an absolute URL`);
  }
  const started = typeof entry.startedDateTime === 'string' ? Date.parse(entry.startedDateTime) : NaN;
  if (Number.isNaN(started)) bad('startedDateTime: expected an ISO 8601 date');
  if (!isIdTime(started)) bad(`startedDateTime: ${String(entry.startedDateTime)} is before 1970 or after the year 10889`);
  const isH2 = typeof req.httpVersion === 'string' && /^(http\/2|h2)/i.test(req.httpVersion);
  // Browsers list HTTP/2 pseudo-headers among the headers; they are the method, url and authority already read.
  const headers = headerPairs(req.headers, 'request.headers').filter(([k]) => !k.startsWith(':'));
  // HTTP/1.1 requires Host (RFC 9112 §3.2); browsers on HTTP/2 record :authority instead.
  if (!headers.some(([k]) => k.toLowerCase() === 'host')) headers.unshift(['Host', url.host]);
  const status = Number(res.status);
  if (!Number.isInteger(status) || status < 0 || status > 999) bad('response.status: expected an HTTP status');
  const content = res.content;
  if (content !== undefined && !isObj(content)) bad('response.content: expected an object');
  const reqBytes = requestBody(req.postData);
  const reqHeaders = alreadyDecoded(headers, reqBytes);
  const reqBody = encodeBody(reqBytes);
  // status 0 is how browsers record a request that got no response
  let response = null;
  if (status !== 0) {
    const resBody = content === undefined ? Buffer.alloc(0) : textBody(content.text, content.encoding, 'response.content');
    const resHeaders = headerPairs(res.headers, 'response.headers').filter(([k]) => !k.startsWith(':'));
    response = { status, headers: alreadyDecoded(resHeaders, resBody), ...encodeBody(resBody), truncated: false };
  }
  const time = Number(entry.time);
  const service = opts.service ?? (typeof entry._service === 'string' ? entry._service : url.hostname);
  const id = newExchangeId(started);
  return {
    v: 1,
    id,
    session: typeof entry._session === 'string' ? entry._session : id,
    parent: null,
    direction: 'inbound',
    service,
    protocol: 'http',
    startedAt: new Date(started).toISOString(),
    durationMs: Number.isFinite(time) && time >= 0 ? time : 0,
    tags: { source: 'har' },
    http: {
      ...(isH2 ? { version: '2' as const } : {}),
      request: {
        method: req.method,
        url: url.pathname + url.search,
        ...(isH2 ? { authority: url.host } : {}),
        headers: reqHeaders,
        body: reqBody.body,
        bodyEncoding: reqBody.bodyEncoding,
        truncated: false,
      },
      response,
      ...(response === null ? { error: { code: 'NO_RESPONSE', message: 'the HAR entry has no response (status 0)' } } : {}),
    },
  };
}

/** Converts entries one by one; bad ones are reported with their index and left out. */
export function* harToExchanges(entries: readonly unknown[], opts: HarImportOptions, skip: (s: SkippedRecord) => void): Generator<HttpExchange> {
  for (let i = 0; i < entries.length; i++) {
    try {
      yield entryToExchange(entries[i], opts);
    } catch (err) {
      if (!(err instanceof EntryError)) throw err;
      skip({ where: `${opts.file} log.entries[${i}]`, reason: err.message });
    }
  }
}

const toNameValue = (h: HeaderPairs) => h.map(([name, value]) => ({ name, value }));

function headerValue(h: HeaderPairs, lower: string): string | undefined {
  for (const [k, v] of h) if (k.toLowerCase() === lower) return v;
  return undefined;
}

export interface HarExportOptions {
  /** decode cap of compressed bodies (compare.max_body_bytes; default 1mb) */
  maxDecodedBytes?: number;
}

interface HarText {
  text: string;
  encoding?: 'base64';
  /** bytes of the decoded body (the body as received when it did not decode) */
  size: number;
  /** why a compressed body is given as received */
  comment?: string;
}

/** A body as HAR holds it: decoded when its headers name a coding, as text when UTF-8, else base64. */
function harText(raw: Buffer, headers: HeaderPairs, maxBytes: number): HarText {
  const r = readableBody(raw, headers, maxBytes);
  const bytes = r.body;
  const out: HarText = isUtf8(bytes) ? { text: bytes.toString('utf8'), size: bytes.length } : { text: bytes.toString('base64'), encoding: 'base64', size: bytes.length };
  if (r.decoding?.isDecoded === false) out.comment = `body as received (${r.decoding.message})`;
  return out;
}

/** The HAR entry of one HTTP exchange; bodies decoded, binary ones with encoding "base64". */
export function exchangeToHarEntry(ex: HttpExchange, opts: HarExportOptions = {}): Json {
  const { request, response } = ex.http;
  const maxDecoded = opts.maxDecodedBytes ?? DEFAULT_DECODE_LIMIT;
  const host = request.authority ?? headerValue(request.headers, 'host') ?? ex.service;
  const url = new URL(request.url.startsWith('/') ? request.url : `/${request.url}`, `http://${host}`);
  const reqBytes = decodeBody(request.body, request.bodyEncoding);
  const reqText = reqBytes.length > 0 ? harText(reqBytes, request.headers, maxDecoded) : undefined;
  const resBytes = response === null ? undefined : decodeBody(response.body, response.bodyEncoding);
  const resText = response === null || resBytes === undefined ? undefined : harText(resBytes, response.headers, maxDecoded);
  // HAR 1.2 takes the version as the client saw it; HTTP/2 is "HTTP/2" as browsers write it.
  const httpVersion = httpVersionOf(ex) === '2' ? 'HTTP/2' : 'HTTP/1.1';
  const entry: Json = {
    startedDateTime: ex.startedAt,
    time: ex.durationMs,
    request: {
      method: request.method,
      url: url.href,
      httpVersion,
      cookies: [],
      headers: toNameValue(request.headers),
      queryString: [...url.searchParams].map(([name, value]) => ({ name, value })),
      ...(reqText !== undefined
        ? {
            postData: {
              mimeType: headerValue(request.headers, 'content-type') ?? '',
              text: reqText.text,
              ...(reqText.encoding === undefined ? {} : { encoding: reqText.encoding }),
              ...(reqText.comment === undefined ? {} : { comment: reqText.comment }),
            },
          }
        : {}),
      headersSize: -1,
      bodySize: reqBytes.length,
    },
    response:
      response === null || resText === undefined || resBytes === undefined
        ? { status: 0, statusText: '', httpVersion, cookies: [], headers: [], content: { size: 0, mimeType: '' }, redirectURL: '', headersSize: -1, bodySize: -1 }
        : {
            status: response.status,
            statusText: '',
            httpVersion,
            cookies: [],
            headers: toNameValue(response.headers),
            content: {
              size: resText.size,
              ...(resText.size !== resBytes.length ? { compression: resText.size - resBytes.length } : {}),
              mimeType: headerValue(response.headers, 'content-type') ?? '',
              text: resText.text,
              ...(resText.encoding === undefined ? {} : { encoding: resText.encoding }),
              ...(resText.comment === undefined ? {} : { comment: resText.comment }),
            },
            redirectURL: headerValue(response.headers, 'location') ?? '',
            headersSize: -1,
            bodySize: resBytes.length,
          },
    cache: {},
    timings: { send: 0, wait: ex.durationMs, receive: 0 },
    _id: ex.id,
    _session: ex.session,
    _service: ex.service,
    _direction: ex.direction,
  };
  return entry;
}
