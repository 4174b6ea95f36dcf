/**
 * Bodies of a baseline and a candidate response. Each side's Content-Encoding
 * is undone first (core/content-coding.ts, bounded by compare.max_body_bytes),
 * so a difference of coding alone is a header matter, never a body mismatch;
 * JSON bodies then go to the field walk, other bodies are compared as bytes.
 */
import { createHash } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import { contentEncodingOf, decodeContent, type ContentDecoding, type UndecodedContent } from '../core/content-coding.js';
import type { CompiledRules } from './compiled-rules.js';
import type { Walk } from './json-walk.js';
import { DECODE_FLAG_SUFFIX, type DiffKind, type ResponseSample } from './types.js';

/** application/json, application/problem+json, text/json, ... */
export function isJsonMediaType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const semi = contentType.indexOf(';');
  const type = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return type.endsWith('/json') || type.endsWith('+json');
}

const NOT_PARSED = Symbol('not parsed');

function parseJsonBody(body: Buffer): unknown {
  try {
    let text = body.toString('utf8');
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    return JSON.parse(text) as unknown;
  } catch {
    return NOT_PARSED;
  }
}

export function compareBodies(
  walk: Walk,
  rules: CompiledRules,
  a: ResponseSample,
  b: ResponseSample,
  typeA: string | undefined,
  typeB: string | undefined,
  flags: string[],
): boolean {
  let ba = a.body;
  let bb = b.body;
  if (ba.length === 0 && bb.length === 0) return true;
  const isOverLimit = ba.length > rules.maxBodyBytes || bb.length > rules.maxBodyBytes;
  if (isOverLimit) {
    flags.push('body-over-limit');
    return compareBytes(walk, rules, ba, bb, 'body-bytes', true);
  }
  // One header lookup per side when nothing is encoded; decoding only when a side names a coding.
  const codingA = ba.length > 0 && a.isDecoded !== true ? contentEncodingOf(a.headers) : undefined;
  const codingB = bb.length > 0 && b.isDecoded !== true ? contentEncodingOf(b.headers) : undefined;
  if (codingA !== undefined || codingB !== undefined) {
    const da = codingA === undefined ? undefined : decodeContent(ba, codingA, rules.maxBodyBytes);
    const db = codingB === undefined ? undefined : decodeContent(bb, codingB, rules.maxBodyBytes);
    if (da?.isDecoded === false || db?.isDecoded === false) return compareUndecoded(walk, rules, ba, bb, da, db, flags);
    if (da !== undefined) ba = da.body;
    if (db !== undefined) bb = db.body;
  }
  const claimsA = isJsonMediaType(typeA);
  const claimsB = isJsonMediaType(typeB);
  if (claimsA || claimsB) {
    const isSameBytes = ba.equals(bb);
    const ja = claimsA && ba.length > 0 ? parseJsonBody(ba) : NOT_PARSED;
    // Equal bytes parse to equal trees: parse once and walk the tree against itself (counts fields, applies rules).
    const jb = isSameBytes && claimsB && ja !== NOT_PARSED ? ja : claimsB && bb.length > 0 ? parseJsonBody(bb) : NOT_PARSED;
    if (claimsA && ba.length > 0 && ja === NOT_PARSED) flags.push('baseline-not-json');
    if (claimsB && bb.length > 0 && jb === NOT_PARSED) flags.push('candidate-not-json');
    if (ja !== NOT_PARSED && jb !== NOT_PARSED) {
      const mark = walk.mark();
      try {
        return walk.compareNode(ja, jb);
      } catch (err) {
        if (!(err instanceof RangeError)) throw err;
        // Nested deeper than the stack can walk (JSON.parse itself is not recursive): judged as
        // bytes and flagged, so one hostile or broken body never stops the judging of the rest.
        walk.rewind(mark);
        flags.push('body-too-deep');
        return compareBytes(walk, rules, ba, bb, 'body-bytes', false);
      }
    }
    const kind: DiffKind = flags.length > 0 ? 'not-json' : 'body-bytes';
    return compareBytes(walk, rules, ba, bb, kind, false);
  }
  return compareBytes(walk, rules, ba, bb, 'body-bytes', false);
}

/**
 * A side's coding could not be undone (over the cap, corrupt, unknown): the
 * bodies are equal only as the bytes received. The diff says why, and shows
 * the other side decoded when it did decode.
 */
function compareUndecoded(
  walk: Walk,
  rules: CompiledRules,
  rawA: Buffer,
  rawB: Buffer,
  da: ContentDecoding | undefined,
  db: ContentDecoding | undefined,
  flags: string[],
): boolean {
  if (da?.isDecoded === false) flags.push(`baseline-${DECODE_FLAG_SUFFIX[da.reason]}`);
  if (db?.isDecoded === false) flags.push(`candidate-${DECODE_FLAG_SUFFIX[db.reason]}`);
  if (rawA.equals(rawB)) {
    walk.match++;
    return true;
  }
  const side = (raw: Buffer, d: ContentDecoding | undefined): string =>
    d?.isDecoded === false ? previewUndecoded(raw, d) : previewBytes(d === undefined ? raw : d.body, rules.maxPreviewChars, false);
  walk.diffAt('$', 'body-bytes', side(rawA, da), side(rawB, db));
  return false;
}

function previewUndecoded(raw: Buffer, d: UndecodedContent): string {
  return `<${raw.length} bytes, Content-Encoding: ${d.codings.join(', ')}, not decoded: ${d.message}; sha256:${createHash('sha256').update(raw).digest('hex')}>`;
}

function compareBytes(walk: Walk, rules: CompiledRules, a: Buffer, b: Buffer, kind: DiffKind, isDigest: boolean): boolean {
  if (a.equals(b)) {
    walk.match++;
    return true;
  }
  walk.diffAt('$', kind, previewBytes(a, rules.maxPreviewChars, isDigest), previewBytes(b, rules.maxPreviewChars, isDigest));
  return false;
}

function previewBytes(body: Buffer, maxChars: number, isDigest: boolean): string {
  if (body.length === 0) return '';
  if (isDigest || !isUtf8(body)) return `<${body.length} bytes, sha256:${createHash('sha256').update(body).digest('hex')}>`;
  const text = body.length > maxChars * 4 ? body.subarray(0, maxChars * 4).toString('utf8') : body.toString('utf8');
  return text.length > maxChars ? `${text.slice(0, maxChars)}… (${body.length} bytes)` : text;
}
