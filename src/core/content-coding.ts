/**
 * Content codings (RFC 9110 §8.4): the one decoding step every reader of a
 * body goes through — the comparator, mock matching, redaction at capture,
 * transform rules, HAR export and report previews — so a compressed body is
 * judged, matched and redacted as what it means. The store keeps the bytes
 * the peer sent; only readers decode.
 *
 * Decoding is bounded: zlib's `maxOutputLength` makes the *Sync functions
 * stop once their output would pass the cap and throw ERR_BUFFER_TOO_LARGE,
 * having held at most the cap (Node.js docs, zlib "Class: Options"), so a
 * decompression bomb is cut there and never expanded in memory. A body whose
 * coding is unknown, corrupt or over the cap stays opaque bytes, with the
 * reason, and nothing throws.
 */
import zlib from 'node:zlib';
import type { HeaderPairs } from './exchange.js';

/** The compare size cap's default (compare.max_body_bytes): what readers decode up to when not told. */
export const DEFAULT_DECODE_LIMIT = 1024 * 1024;

/** Stacked codings decoded at most: each step costs up to the cap, so a header listing "gzip" 100 times is refused. */
export const MAX_STACKED_CODINGS = 4;

type SyncCodec = (buf: Buffer, opts?: zlib.ZlibOptions) => Buffer;

// zstd arrived in Node.js 22.15 / 23.8 (zlib.zstdDecompressSync); Node 20 has none, and its typings neither.
const zstd = zlib as unknown as { zstdDecompressSync?: SyncCodec; zstdCompressSync?: SyncCodec };

/** true when this runtime decodes `Content-Encoding: zstd` */
export const hasZstd = typeof zstd.zstdDecompressSync === 'function' && typeof zstd.zstdCompressSync === 'function';

export type UndecodedReason = 'over_limit' | 'corrupt' | 'unknown_coding';

export interface DecodedContent {
  isDecoded: true;
  /** the decoded bytes (the input itself when there was no coding to undo) */
  body: Buffer;
  /** the codings undone, in the order they were applied (header order) */
  codings: readonly string[];
}

export interface UndecodedContent {
  isDecoded: false;
  reason: UndecodedReason;
  codings: readonly string[];
  /** a sentence a person reads: which coding, and why it stays opaque */
  message: string;
}

export type ContentDecoding = DecodedContent | UndecodedContent;

/**
 * The Content-Encoding value of a header list when it names a coding to
 * undo; undefined when absent, empty or `identity`. Duplicates are joined
 * with ", " (RFC 9110 §5.3), which is also how stacked codings are listed.
 */
export function contentEncodingOf(headers: HeaderPairs): string | undefined {
  let out: string | undefined;
  for (let i = 0; i < headers.length; i++) {
    const pair = headers[i] as [string, string];
    if (pair[0].length === 16 && pair[0].toLowerCase() === 'content-encoding') out = out === undefined ? pair[1] : `${out}, ${pair[1]}`;
  }
  return out === undefined || isIdentity(out) ? undefined : out;
}

/** contentEncodingOf for a raw header list (name, value, name, value, ...). */
export function contentEncodingOfRaw(raw: readonly string[]): string | undefined {
  let out: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 16 && name.toLowerCase() === 'content-encoding') out = out === undefined ? raw[i + 1] : `${out}, ${raw[i + 1] as string}`;
  }
  return out === undefined || isIdentity(out) ? undefined : out;
}

function isIdentity(value: string): boolean {
  const v = value.trim();
  return v === '' || v.toLowerCase() === 'identity';
}

/** The codings of a Content-Encoding value in the order they were applied; case-insensitive (RFC 9110 §8.4.1). */
export function parseCodings(value: string): string[] {
  const out: string[] = [];
  for (const part of value.split(',')) {
    const c = part.trim().toLowerCase();
    if (c === '' || c === 'identity') continue;
    // x-gzip is gzip (RFC 9110 §8.4.1.3)
    out.push(c === 'x-gzip' ? 'gzip' : c);
  }
  return out;
}

/** true when this runtime can decode the coding (a name from parseCodings). */
export function isKnownCoding(coding: string): boolean {
  return coding === 'gzip' || coding === 'deflate' || coding === 'br' || (coding === 'zstd' && hasZstd);
}

/**
 * Undoes the codings of `contentEncoding` (last applied first), each step's
 * output bounded by `maxBytes`. An empty body or a coding-less value decodes
 * to the input.
 */
export function decodeContent(body: Buffer, contentEncoding: string | undefined, maxBytes: number): ContentDecoding {
  const codings = contentEncoding === undefined ? [] : parseCodings(contentEncoding);
  if (codings.length === 0 || body.length === 0) return { isDecoded: true, body, codings };
  if (codings.length > MAX_STACKED_CODINGS) {
    return undecoded('unknown_coding', codings, `${codings.length} stacked content codings (${codings.join(', ')}); at most ${MAX_STACKED_CODINGS} are decoded`);
  }
  for (const c of codings) {
    if (!isKnownCoding(c)) {
      const why = c === 'zstd' ? ' (this Node.js runtime has no zstd)' : '';
      return undecoded('unknown_coding', codings, `unknown content coding ${JSON.stringify(c)}${why}: compared as the bytes received`);
    }
  }
  const limit = Math.max(1, maxBytes);
  let out = body;
  for (let i = codings.length - 1; i >= 0; i--) {
    const c = codings[i] as string;
    try {
      out = decodeOne(c, out, limit);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ERR_BUFFER_TOO_LARGE') {
        return undecoded('over_limit', codings, `${c} body inflates past the decode cap of ${maxBytes} bytes (compare.max_body_bytes): cut there, compared as the bytes received`);
      }
      return undecoded('corrupt', codings, `${c} body does not decode (${e.message}): compared as the bytes received`);
    }
  }
  return { isDecoded: true, body: out, codings };
}

function undecoded(reason: UndecodedReason, codings: readonly string[], message: string): UndecodedContent {
  return { isDecoded: false, reason, codings, message };
}

function decodeOne(coding: string, buf: Buffer, maxOutputLength: number): Buffer {
  const opts = { maxOutputLength };
  switch (coding) {
    case 'gzip':
      return zlib.gunzipSync(buf, opts);
    case 'deflate':
      try {
        return zlib.inflateSync(buf, opts);
      } catch (err) {
        // "deflate" is the zlib format (RFC 9110 §8.4.1.2), but some servers send raw deflate; browsers accept both.
        if ((err as NodeJS.ErrnoException).code !== 'Z_DATA_ERROR') throw err;
        return zlib.inflateRawSync(buf, opts);
      }
    case 'br':
      return zlib.brotliDecompressSync(buf, opts);
    case 'zstd':
      return (zstd.zstdDecompressSync as SyncCodec)(buf, opts);
    default:
      throw new Error(`unknown content coding ${coding}`);
  }
}

/**
 * Applies `codings` in order (as a Content-Encoding lists them): what a
 * redacted body is re-encoded with, so it keeps the coding its headers name.
 * Only codings isKnownCoding accepts.
 */
export function encodeContent(body: Buffer, codings: readonly string[]): Buffer {
  let out = body;
  for (const c of codings) {
    switch (c) {
      case 'gzip':
        out = zlib.gzipSync(out);
        break;
      case 'deflate':
        out = zlib.deflateSync(out);
        break;
      case 'br':
        // Brotli's default quality 11 costs tens of times more CPU than 5 for a few percent of size,
        // and re-encoding runs on the thread that proxies.
        out = zlib.brotliCompressSync(out, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: out.length } });
        break;
      case 'zstd':
        if (zstd.zstdCompressSync === undefined) throw new Error('this Node.js runtime has no zstd');
        out = zstd.zstdCompressSync(out);
        break;
      default:
        throw new Error(`unknown content coding ${c}`);
    }
  }
  return out;
}

/** The bytes a reader should look at: decoded when the headers name a coding that decodes, else the body as is. */
export function readableBody(body: Buffer, headers: HeaderPairs, maxBytes: number): { body: Buffer; decoding: ContentDecoding | undefined } {
  const ce = contentEncodingOf(headers);
  if (ce === undefined) return { body, decoding: undefined };
  const d = decodeContent(body, ce, maxBytes);
  return { body: d.isDecoded ? d.body : body, decoding: d };
}
