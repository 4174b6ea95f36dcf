/**
 * Request keys for mock matching. Two keys per request, both plain strings so
 * lookup is one Map get:
 *
 * - exact: method, path, query as a sorted multiset, body (JSON canonical with
 *   sorted keys, other bodies by their bytes' hash), selected headers;
 * - shape: the same after value classes (uuid, timestamp, token, ...) replace
 *   the values they recognise, in path segments, query values, JSON leaves and
 *   headers — so a generated idempotency key still finds its recording.
 *
 * Both apply compare.ignore (JSON paths are blanked) and treat redacted
 * positions (redacted query parameters, redact.json_paths, recorded
 * placeholders) as wildcards: the recording holds a placeholder where the live
 * request holds the secret. A body sent with a Content-Encoding is keyed by
 * what it decodes to (bounded by compare.max_body_bytes), so a gzip request
 * matches its recording whatever the compressor's level or timestamp.
 */
import { createHash } from 'node:crypto';
import { compilePath, pathMatches, type CompiledPath, type PathSegment } from '../core/json-path.js';
import { classifyValue } from '../compare/value-classes.js';
import { contentEncodingOfRaw, decodeContent, DEFAULT_DECODE_LIMIT, type UndecodedContent } from '../core/content-coding.js';
import { isRedactedValue, safeDecode } from '../core/redact.js';

export interface KeyOptions {
  /** compare.ignore JSON paths (header:NAME entries remove a header from matching) */
  ignore: readonly CompiledPath[];
  valueClasses: boolean;
  /** lower-case header names whose values must match */
  matchHeaders: readonly string[];
  /** lower-case query parameter names that capture redacts */
  redactedQueryParams: ReadonlySet<string>;
  redactedJsonPaths: readonly CompiledPath[];
  /** decode cap of request bodies sent with a Content-Encoding (compare.max_body_bytes) */
  maxDecodedBytes: number;
}

export function buildKeyOptions(o: {
  ignore?: readonly string[];
  valueClasses?: boolean;
  matchHeaders?: readonly string[];
  redactedQueryParams?: Iterable<string>;
  redactedJsonPaths?: readonly string[];
  maxDecodedBytes?: number;
}): KeyOptions {
  const ignore = (o.ignore ?? []).map((p) => compilePath(p));
  const ignoredHeaders = new Set(ignore.filter((p) => p.kind === 'header').map((p) => (p.kind === 'header' ? p.name : '')));
  return {
    ignore: ignore.filter((p) => p.kind === 'json'),
    valueClasses: o.valueClasses ?? true,
    matchHeaders: (o.matchHeaders ?? []).map((h) => h.toLowerCase()).filter((h) => !ignoredHeaders.has(h)),
    redactedQueryParams: new Set([...(o.redactedQueryParams ?? [])].map((q) => q.toLowerCase())),
    redactedJsonPaths: (o.redactedJsonPaths ?? []).map((p) => compilePath(p)).filter((p) => p.kind === 'json'),
    maxDecodedBytes: o.maxDecodedBytes ?? DEFAULT_DECODE_LIMIT,
  };
}

/** What matching looks at in a request. */
export interface RequestView {
  method: string;
  /** path + query as on the request line */
  url: string;
  /** raw header list: name, value, ... */
  headers: readonly string[];
  /** the bytes as sent */
  body: Buffer;
  /** true when `body` is already decoded (a recorded sample kept decoded) */
  isDecoded?: boolean;
}

export interface ParsedRequest {
  method: string;
  path: string;
  /** [name, value] decoded, in order */
  query: Array<[string, string]>;
  /** parsed JSON body, or undefined when not JSON */
  json: unknown;
  isJson: boolean;
  /** the bytes as sent (what passthrough forwards) */
  body: Buffer;
  /** what matching reads: `body` with its Content-Encoding undone, or `body` itself */
  content: Buffer;
  /** set when a Content-Encoding could not be undone (over the cap, corrupt, unknown): `content` is `body` */
  undecoded: UndecodedContent | undefined;
  headers: readonly string[];
}

const EMPTY: Array<[string, string]> = [];

export function parseRequest(view: RequestView, maxDecodedBytes = DEFAULT_DECODE_LIMIT): ParsedRequest {
  const q = view.url.indexOf('?');
  const path = q === -1 ? view.url : view.url.slice(0, q);
  const query = q === -1 ? EMPTY : parseQuery(view.url.slice(q + 1));
  let content = view.body;
  let undecoded: UndecodedContent | undefined;
  if (content.length > 0 && view.isDecoded !== true) {
    const coding = contentEncodingOfRaw(view.headers);
    if (coding !== undefined) {
      const d = decodeContent(content, coding, maxDecodedBytes);
      if (d.isDecoded) content = d.body;
      else undecoded = d;
    }
  }
  let json: unknown;
  let isJson = false;
  if (content.length > 0 && looksJson(content)) {
    try {
      json = JSON.parse(content.toString('utf8'));
      isJson = true;
    } catch {
      isJson = false;
    }
  }
  return { method: view.method.toUpperCase(), path, query, json, isJson, body: view.body, content, undecoded, headers: view.headers };
}

function looksJson(buf: Buffer): boolean {
  for (let i = 0; i < buf.length && i < 64; i++) {
    const c = buf[i] as number;
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
    return c === 0x7b || c === 0x5b;
  }
  return false;
}

export function parseQuery(qs: string): Array<[string, string]> {
  if (qs === '') return EMPTY;
  const hash = qs.indexOf('#');
  const s = hash === -1 ? qs : qs.slice(0, hash);
  const out: Array<[string, string]> = [];
  for (const part of s.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq === -1) out.push([safeDecode(part), '']);
    else out.push([safeDecode(part.slice(0, eq)), safeDecode(part.slice(eq + 1))]);
  }
  return out;
}

const REDACTED = '\u0000redacted';
const IGNORED = '\u0000ignored';

function classOf(value: unknown, shape: boolean): string | undefined {
  if (!shape) return undefined;
  const c = classifyValue(value);
  return c === undefined ? undefined : `\u0000${c}`;
}

function normPathSegments(path: string, shape: boolean): string {
  if (!shape) return path;
  const parts = path.split('/');
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i] as string;
    if (p === '') continue;
    const c = classOf(safeDecode(p), true);
    if (c !== undefined) parts[i] = c;
  }
  return parts.join('/');
}

export function queryKey(query: ReadonlyArray<[string, string]>, opts: KeyOptions, shape: boolean): string {
  if (query.length === 0) return '';
  const items: string[] = new Array<string>(query.length);
  for (let i = 0; i < query.length; i++) {
    const [name, value] = query[i] as [string, string];
    let v: string;
    if (opts.redactedQueryParams.has(name.toLowerCase()) || isRedactedValue(value)) v = REDACTED;
    else v = classOf(value, opts.valueClasses && shape) ?? value;
    items[i] = `${name}=${v}`;
  }
  // a multiset: order of parameters does not matter, repetitions do
  items.sort();
  return items.join('&');
}

function isIgnored(path: readonly PathSegment[], opts: KeyOptions): boolean {
  for (const p of opts.ignore) if (pathMatches(p, path)) return true;
  return false;
}

function isRedactedPath(path: readonly PathSegment[], opts: KeyOptions): boolean {
  for (const p of opts.redactedJsonPaths) if (pathMatches(p, path)) return true;
  return false;
}

/** Canonical JSON: sorted keys, ignored and redacted leaves blanked, classed leaves replaced (shape). */
export function canonicalJson(node: unknown, opts: KeyOptions, shape: boolean): string {
  const hasRules = opts.ignore.length > 0 || opts.redactedJsonPaths.length > 0;
  const path: PathSegment[] = [];
  const walk = (n: unknown): string => {
    if (hasRules && path.length > 0) {
      if (isIgnored(path, opts)) return JSON.stringify(IGNORED);
      if (isRedactedPath(path, opts)) return JSON.stringify(REDACTED);
    }
    if (Array.isArray(n)) {
      let s = '[';
      for (let i = 0; i < n.length; i++) {
        path.push(i);
        s += (i > 0 ? ',' : '') + walk(n[i]);
        path.pop();
      }
      return s + ']';
    }
    if (n !== null && typeof n === 'object') {
      const keys = Object.keys(n).sort();
      let s = '{';
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i] as string;
        path.push(k);
        s += (i > 0 ? ',' : '') + JSON.stringify(k) + ':' + walk((n as Record<string, unknown>)[k]);
        path.pop();
      }
      return s + '}';
    }
    if (isRedactedValue(n)) return JSON.stringify(REDACTED);
    const c = classOf(n, opts.valueClasses && shape);
    return c === undefined ? JSON.stringify(n) : JSON.stringify(c);
  };
  return walk(node);
}

function bodyKey(req: ParsedRequest, opts: KeyOptions, shape: boolean): string {
  if (req.content.length === 0) return '';
  if (req.isJson) {
    const s = canonicalJson(req.json, opts, shape);
    return s.length > 256 ? 'j:' + createHash('sha1').update(s).digest('base64') : 'j:' + s;
  }
  return 'b:' + createHash('sha1').update(req.content).digest('base64');
}

function headerKey(req: ParsedRequest, opts: KeyOptions, shape: boolean): string {
  if (opts.matchHeaders.length === 0) return '';
  let s = '';
  for (const name of opts.matchHeaders) {
    const values: string[] = [];
    for (let i = 0; i + 1 < req.headers.length; i += 2) {
      if ((req.headers[i] as string).toLowerCase() !== name) continue;
      const v = req.headers[i + 1] as string;
      values.push(isRedactedValue(v) ? REDACTED : (classOf(v, opts.valueClasses && shape) ?? v));
    }
    s += `${name}:${values.join(',')}\n`;
  }
  return s;
}

/** The exact key; `/a` and `/a?` with nothing else make the same key. */
export function exactKey(req: ParsedRequest, opts: KeyOptions): string {
  return `${req.method} ${req.path}?${queryKey(req.query, opts, false)}\n${bodyKey(req, opts, false)}\n${headerKey(req, opts, false)}`;
}

export function shapeKey(req: ParsedRequest, opts: KeyOptions): string {
  return `${req.method} ${normPathSegments(req.path, opts.valueClasses)}?${queryKey(req.query, opts, true)}\n${bodyKey(req, opts, true)}\n${headerKey(req, opts, true)}`;
}

/** The path as grouped for miss explanations (value classes applied). */
export function shapePath(path: string, opts: KeyOptions): string {
  return normPathSegments(path, opts.valueClasses);
}
