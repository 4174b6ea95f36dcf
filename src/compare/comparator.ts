/**
 * The comparator: status, selected headers and bodies of a baseline and a
 * candidate response. JSON bodies are compared field by field under the rules
 * of the `compare` config (one path grammar); other bodies by bytes. Each
 * side's Content-Encoding is undone first (core/content-coding.ts, bounded by
 * compare.max_body_bytes), so a difference of coding alone is a header
 * matter, never a body mismatch.
 *
 * Rules are compiled once in createComparator. The walk keeps one mutable
 * path stack, formats a path only when it records a diff, and tests value
 * classes only when two values differ.
 */
import { createHash } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import type { CompareConfig } from '../config/schema.js';
import { parseSizeBytes } from '../config/duration.js';
import { contentEncodingOf, decodeContent, type ContentDecoding, type UndecodedContent } from '../core/content-coding.js';
import { DoppelError } from '../core/errors.js';
import type { HeaderPairs } from '../core/exchange.js';
import { compilePath, formatPath, type PathSegment } from './json-path.js';
import { createRuleSet, type RuleSet } from './rule-set.js';
import { classifyValue } from './value-classes.js';
import { DECODE_FLAG_SUFFIX, type CompareOutcome, type Comparator, type DiffKind, type FieldDiff, type ResponseSample } from './types.js';

/**
 * Headers that differ between any two responses by design (clocks, request
 * ids, caches, connection management, cookies). They are not compared even
 * when `compare.headers` is ["*"].
 */
export const VOLATILE_HEADERS: readonly string[] = [
  'date',
  'server',
  'etag',
  'last-modified',
  'expires',
  'age',
  'set-cookie',
  'x-request-id',
  'x-correlation-id',
  'request-id',
  'x-trace-id',
  'traceparent',
  'tracestate',
  'x-amzn-trace-id',
  'x-amz-request-id',
  'x-runtime',
  'x-response-time',
  'server-timing',
  'via',
  'x-powered-by',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'alt-svc',
  'report-to',
  'nel',
];

export interface ComparatorOptions {
  /** most diffs kept per comparison; the rest are counted in omittedDiffs */
  maxDiffs?: number;
  /** longest rendering of a value kept in a diff */
  maxPreviewChars?: number;
}

interface Tolerance {
  abs: number;
  /** relative tolerance as a fraction: "1%" -> 0.01 */
  rel: number;
}

interface CompiledRules {
  ignore: RuleSet<true>;
  tolerances: RuleSet<Tolerance>;
  unordered: RuleSet<true>;
  presence: RuleSet<true>;
  /** header names compared, lower case; undefined means every header not volatile */
  headers: readonly string[] | undefined;
  ignoredHeaders: ReadonlySet<string>;
  valueClasses: boolean;
  maxBodyBytes: number;
  maxDiffs: number;
  maxPreviewChars: number;
}

/** Every problem of a compare section, each naming its key: `compare.ignore[2]: invalid path ...`. */
export function validateCompareConfig(cfg: CompareConfig, prefix = 'compare'): string[] {
  const problems: string[] = [];
  const check = (key: string, source: string, jsonOnly: boolean) => {
    try {
      const p = compilePath(source);
      if (jsonOnly && p.kind !== 'json') problems.push(`${key}: ${JSON.stringify(source)} is a ${p.kind} rule; only ignore accepts header:NAME and pg:$N here, expected a JSON path like $.total`);
    } catch (err) {
      problems.push(`${key}: ${(err as Error).message}`);
    }
  };
  cfg.ignore.forEach((s, i) => check(`${prefix}.ignore[${i}]`, s, false));
  cfg.unordered.forEach((s, i) => check(`${prefix}.unordered[${i}]`, s, true));
  cfg.presence.forEach((s, i) => check(`${prefix}.presence[${i}]`, s, true));
  for (const [path, tol] of Object.entries(cfg.tolerances)) {
    const key = `${prefix}.tolerances[${JSON.stringify(path)}]`;
    check(key, path, true);
    if (parseTolerance(tol) === undefined) problems.push(`${key}: expected an absolute tolerance like 0.01 or a relative one like "1%", got ${JSON.stringify(tol)}`);
  }
  if (parseSizeBytes(cfg.max_body_bytes) === undefined) problems.push(`${prefix}.max_body_bytes: expected a size like "1mb", got ${JSON.stringify(cfg.max_body_bytes)}`);
  return problems;
}

function parseTolerance(value: number | string): Tolerance | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? { abs: value, rel: 0 } : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(value);
  if (m) return { abs: 0, rel: Number(m[1]) / 100 };
  const n = Number(value);
  return value.trim() !== '' && Number.isFinite(n) && n >= 0 ? { abs: n, rel: 0 } : undefined;
}

export function createComparator(cfg: CompareConfig, opts: ComparatorOptions = {}): Comparator {
  const problems = validateCompareConfig(cfg);
  if (problems.length > 0) {
    throw new DoppelError('DOPPEL_CONFIG_INVALID', `${problems.length} problem${problems.length === 1 ? '' : 's'} in compare rules`, { details: problems });
  }
  const ignoredHeaders = new Set<string>();
  const ignoreJson: Array<{ path: string; payload: true }> = [];
  for (const source of cfg.ignore) {
    const p = compilePath(source);
    if (p.kind === 'header') ignoredHeaders.add(p.name);
    else ignoreJson.push({ path: source, payload: true });
  }
  const wantsAll = cfg.headers.some((h) => h.trim() === '*');
  const rules: CompiledRules = {
    ignore: createRuleSet(ignoreJson),
    tolerances: createRuleSet(Object.entries(cfg.tolerances).map(([path, t]) => ({ path, payload: parseTolerance(t) as Tolerance }))),
    unordered: createRuleSet(cfg.unordered.map((path) => ({ path, payload: true as const }))),
    presence: createRuleSet(cfg.presence.map((path) => ({ path, payload: true as const }))),
    headers: wantsAll ? undefined : [...new Set(cfg.headers.map((h) => h.trim().toLowerCase()))],
    ignoredHeaders,
    valueClasses: cfg.value_classes,
    maxBodyBytes: parseSizeBytes(cfg.max_body_bytes) ?? 1024 * 1024,
    maxDiffs: opts.maxDiffs ?? 50,
    maxPreviewChars: opts.maxPreviewChars ?? 512,
  };
  return {
    compare(baseline, candidate) {
      return compareResponses(rules, baseline, candidate);
    },
  };
}

function compareResponses(rules: CompiledRules, a: ResponseSample, b: ResponseSample): CompareOutcome {
  const walk = new Walk(rules);
  const flags: string[] = [];
  const isStatusMatch = a.status === b.status;
  if (!isStatusMatch) walk.diffAt('status', 'status', a.status, b.status);
  const isHeadersMatch = compareHeaders(walk, rules, a.headers, b.headers);
  const isBodyMatch = compareBodies(walk, rules, a, b, headerValue(a.headers, 'content-type'), headerValue(b.headers, 'content-type'), flags);
  const outcome: CompareOutcome = {
    isMatch: isStatusMatch && isHeadersMatch && isBodyMatch,
    isStatusMatch,
    isBodyMatch,
    fields: { match: walk.match, mismatch: walk.mismatch, ignored: walk.ignored },
    diffs: walk.diffs,
    flags,
  };
  if (walk.omitted > 0) outcome.omittedDiffs = walk.omitted;
  return outcome;
}

/** The value of a header (duplicates joined by ", ", RFC 9110 §5.3), or undefined. */
export function headerValue(headers: HeaderPairs, lowerName: string): string | undefined {
  let out: string | undefined;
  for (let i = 0; i < headers.length; i++) {
    const pair = headers[i] as [string, string];
    if (pair[0].length === lowerName.length && pair[0].toLowerCase() === lowerName) out = out === undefined ? pair[1] : `${out}, ${pair[1]}`;
  }
  return out;
}

function compareHeaders(walk: Walk, rules: CompiledRules, a: HeaderPairs, b: HeaderPairs): boolean {
  let names = rules.headers;
  if (names === undefined) {
    const all = new Set<string>();
    for (const [k] of a) all.add(k.toLowerCase());
    for (const [k] of b) all.add(k.toLowerCase());
    for (const v of VOLATILE_HEADERS) all.delete(v);
    names = [...all];
  }
  let ok = true;
  for (const name of names) {
    const va = headerValue(a, name);
    const vb = headerValue(b, name);
    if (va === undefined && vb === undefined) continue;
    if (rules.ignoredHeaders.has(name)) {
      walk.ignored++;
      continue;
    }
    const path = `header:${name}`;
    if (va === undefined) {
      walk.diffAt(path, 'header', undefined, vb);
      ok = false;
    } else if (vb === undefined) {
      walk.diffAt(path, 'header', va, undefined);
      ok = false;
    } else if (isSameHeaderValue(name, va, vb, rules.valueClasses)) {
      walk.match++;
    } else {
      walk.diffAt(path, 'header', va, vb);
      ok = false;
    }
  }
  return ok;
}

function isSameHeaderValue(name: string, a: string, b: string, valueClasses: boolean): boolean {
  if (a === b) return true;
  // Media type and parameter names are case-insensitive, and whitespace around ";" is optional (RFC 9110 §8.3.1).
  if (name === 'content-type') return normalizeMediaType(a) === normalizeMediaType(b);
  const ta = a.trim();
  const tb = b.trim();
  if (ta === tb) return true;
  return valueClasses && isSameClass(ta, tb);
}

function normalizeMediaType(v: string): string {
  return v.toLowerCase().replace(/\s*;\s*/g, ';').replace(/"/g, '').trim();
}

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

function compareBodies(
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

/** Element pairs tried in an unordered array before falling back to linear pairing by JSON text. */
const MAX_PAIRING_TRIES = 250_000;

function isSameClass(a: unknown, b: unknown): boolean {
  const ca = classifyValue(a);
  return ca !== undefined && ca === classifyValue(b);
}

/**
 * One comparison's walk state. `dry` > 0 while unordered arrays try pairings:
 * nothing is counted or recorded and the first mismatch ends the subtree.
 */
class Walk {
  match = 0;
  mismatch = 0;
  ignored = 0;
  omitted = 0;
  readonly diffs: FieldDiff[] = [];
  private readonly path: PathSegment[] = [];
  private dry = 0;
  private readonly r: CompiledRules;

  constructor(rules: CompiledRules) {
    this.r = rules;
  }

  /** The counts and position now, to go back to when a walk is abandoned half way. */
  mark(): readonly [number, number, number, number, number, number, number] {
    return [this.match, this.mismatch, this.ignored, this.omitted, this.diffs.length, this.path.length, this.dry];
  }

  rewind(m: readonly [number, number, number, number, number, number, number]): void {
    [this.match, this.mismatch, this.ignored, this.omitted] = m;
    this.diffs.length = m[4];
    this.path.length = m[5];
    this.dry = m[6];
  }

  diffAt(path: string, kind: DiffKind, expected: unknown, actual: unknown): void {
    this.mismatch++;
    if (this.diffs.length >= this.r.maxDiffs) {
      this.omitted++;
      return;
    }
    const d: FieldDiff = { path, kind };
    if (expected !== undefined) d.expected = this.preview(expected);
    if (actual !== undefined) d.actual = this.preview(actual);
    this.diffs.push(d);
  }

  private fail(kind: DiffKind, expected: unknown, actual: unknown): false {
    if (this.dry === 0) this.diffAt(formatPath(this.path), kind, expected, actual);
    return false;
  }

  private preview(v: unknown): unknown {
    const max = this.r.maxPreviewChars;
    if (typeof v === 'string') return v.length > max ? `${v.slice(0, max)}… (${v.length} chars)` : v;
    if (v === null || typeof v !== 'object') return v;
    const text = JSON.stringify(v);
    return text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : v;
  }

  /** Compares two nodes at the current path; undefined means absent on that side. */
  compareNode(a: unknown, b: unknown): boolean {
    const r = this.r;
    const path = this.path;
    if (r.ignore.size > 0 && r.ignore.find(path) !== undefined) {
      if (this.dry === 0) this.ignored++;
      return true;
    }
    if (a === undefined) return this.fail('extra', undefined, b);
    if (b === undefined) return this.fail('missing', a, undefined);
    if (r.presence.size > 0 && r.presence.find(path) !== undefined) {
      if (this.dry === 0) this.match++;
      return true;
    }
    const ta = typeof a;
    if (ta !== 'object' || a === null) {
      if (a === b) {
        if (this.dry === 0) this.match++;
        return true;
      }
      return this.comparePrimitive(a, b);
    }
    if (b === null || typeof b !== 'object') return this.fail('type', a, b);
    const isArrayA = Array.isArray(a);
    if (isArrayA !== Array.isArray(b)) return this.fail('type', a, b);
    if (isArrayA) {
      if (r.unordered.size > 0 && r.unordered.find(path) !== undefined) return this.compareUnordered(a as unknown[], b as unknown[]);
      return this.compareOrdered(a as unknown[], b as unknown[]);
    }
    return this.compareObject(a as Record<string, unknown>, b as Record<string, unknown>);
  }

  private comparePrimitive(a: unknown, b: unknown): boolean {
    const ta = typeof a;
    if (ta !== typeof b || b === null || a === null) return this.fail('type', a, b);
    if (ta === 'number') {
      const tol = this.r.tolerances.size > 0 ? this.r.tolerances.find(this.path) : undefined;
      if (tol !== undefined && isWithin(a as number, b as number, tol)) return this.hit();
    }
    if (this.r.valueClasses && (ta === 'string' || ta === 'number') && isSameClass(a, b)) return this.hit();
    return this.fail('changed', a, b);
  }

  private hit(): true {
    if (this.dry === 0) this.match++;
    return true;
  }

  private compareOrdered(a: unknown[], b: unknown[]): boolean {
    const path = this.path;
    const n = a.length > b.length ? a.length : b.length;
    let ok = true;
    for (let i = 0; i < n; i++) {
      path.push(i);
      const same = this.compareNode(i < a.length ? a[i] : undefined, i < b.length ? b[i] : undefined);
      path.pop();
      if (!same) {
        ok = false;
        if (this.dry > 0) return false;
      }
    }
    return ok;
  }

  /**
   * Pairs equal elements regardless of position (same index first, then the
   * first free equal element), then diffs what is left in order.
   */
  private compareUnordered(a: unknown[], b: unknown[]): boolean {
    const path = this.path;
    const used = new Uint8Array(b.length);
    const pair = new Int32Array(a.length).fill(-1);
    this.dry++;
    for (let i = 0; i < a.length && i < b.length; i++) {
      path.push(i);
      if (this.compareNode(a[i], b[i])) {
        pair[i] = i;
        used[i] = 1;
      }
      path.pop();
    }
    if (a.length * b.length <= MAX_PAIRING_TRIES) {
      for (let i = 0; i < a.length; i++) {
        if (pair[i] !== -1) continue;
        path.push(i);
        for (let j = 0; j < b.length; j++) {
          if (used[j] === 0 && this.compareNode(a[i], b[j])) {
            pair[i] = j;
            used[j] = 1;
            break;
          }
        }
        path.pop();
      }
    } else {
      // Large arrays: pairing by trial is quadratic, so pair elements with identical JSON text in one
      // pass (linear); what rules or value classes would also have excused is diffed in order below.
      const free = new Map<string, number[]>();
      for (let j = 0; j < b.length; j++) {
        if (used[j] === 1) continue;
        const key = JSON.stringify(b[j]) ?? '';
        const list = free.get(key);
        if (list) list.push(j);
        else free.set(key, [j]);
      }
      for (let i = 0; i < a.length; i++) {
        if (pair[i] !== -1) continue;
        const j = free.get(JSON.stringify(a[i]) ?? '')?.shift();
        if (j !== undefined) {
          pair[i] = j;
          used[j] = 1;
        }
      }
    }
    this.dry--;
    if (this.dry > 0) {
      // Inside another pairing attempt only the answer matters.
      for (let i = 0; i < a.length; i++) if (pair[i] === -1) return false;
      return a.length === b.length;
    }
    let ok = true;
    let nextFree = 0;
    for (let i = 0; i < a.length; i++) {
      path.push(i);
      let j = pair[i] as number;
      if (j === -1) {
        while (nextFree < b.length && used[nextFree] === 1) nextFree++;
        if (nextFree < b.length) {
          j = nextFree;
          used[j] = 1;
        }
      }
      if (!this.compareNode(a[i], j === -1 ? undefined : b[j])) ok = false;
      path.pop();
    }
    for (let j = 0; j < b.length; j++) {
      if (used[j] === 1) continue;
      path.push(j);
      this.compareNode(undefined, b[j]);
      path.pop();
      ok = false;
    }
    return ok;
  }

  private compareObject(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
    const path = this.path;
    // Fast path: both sides list the same keys in the same order (one serializer, one schema), so no
    // membership tests are needed. V8 serves Object.keys of parsed objects from its enum cache.
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    if (ka.length === kb.length) {
      let isSameOrder = true;
      for (let i = 0; i < ka.length; i++) {
        if (ka[i] !== kb[i]) {
          isSameOrder = false;
          break;
        }
      }
      if (isSameOrder) {
        let ok = true;
        for (let i = 0; i < ka.length; i++) {
          const k = ka[i] as string;
          path.push(k);
          const same = this.compareNode(a[k], b[k]);
          path.pop();
          if (!same) {
            ok = false;
            if (this.dry > 0) return false;
          }
        }
        return ok;
      }
    }
    let ok = true;
    let shared = 0;
    for (const k in a) {
      const isInB = Object.hasOwn(b, k);
      if (isInB) shared++;
      path.push(k);
      const same = this.compareNode(a[k], isInB ? b[k] : undefined);
      path.pop();
      if (!same) {
        ok = false;
        if (this.dry > 0) return false;
      }
    }
    let countB = 0;
    for (const _k in b) countB++;
    if (countB === shared) return ok;
    for (const k in b) {
      if (Object.hasOwn(a, k)) continue;
      path.push(k);
      const same = this.compareNode(undefined, b[k]);
      path.pop();
      if (!same) {
        ok = false;
        if (this.dry > 0) return false;
      }
    }
    return ok;
  }
}

function isWithin(a: number, b: number, tol: Tolerance): boolean {
  const delta = Math.abs(a - b);
  // A little slack for binary floating point: 0.1 + 0.2 is within 0.3 +/- 0.
  const slack = 1e-12 * Math.max(Math.abs(a), Math.abs(b), 1);
  if (delta <= tol.abs + slack) return true;
  return tol.rel > 0 && delta <= tol.rel * Math.max(Math.abs(a), Math.abs(b)) + slack;
}
