/**
 * Explains an HTTP mock miss: the nearest recorded request and what differed.
 *
 * A miss must stay cheap even in a storm (a candidate calling an unrecorded
 * endpoint at full rate), so the work per miss is bounded twice:
 *
 * - recorded requests are bucketed by method + path template (value classes
 *   applied) and by method; a miss compares itself with at most `candidates`
 *   recordings: of its route (the very path first), else of its path template
 *   under other methods, else of its method, else any.
 *   Buckets come in order of the score a difference costs (a path difference
 *   outweighs method + query + body + headers together), so the first
 *   non-empty bucket holds the nearest recording there is;
 * - explanations are cached per miss key (the exact matching key), so a storm
 *   of one miss computes its explanation once.
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { isRedactedValue } from '../core/redact.js';
import { canonicalJson, exactKey, parseRequest, queryKey, shapePath, type KeyOptions, type ParsedRequest } from './http-request-key.js';

export interface Difference {
  part: 'method' | 'path' | 'query' | 'body' | 'headers';
  expected: unknown;
  actual: unknown;
}

export interface MissExplanation {
  nearest: { id: string; method: string; url: string } | undefined;
  differences: Difference[];
}

/** A recorded request as a miss is compared with it: the first of its matching group. */
export interface RecordedRequest {
  /** id of the recorded exchange */
  id: string;
  method: string;
  url: string;
  /** already decoded when it was sent with a Content-Encoding */
  body: Buffer;
  headers: readonly string[];
}

export interface MissExplainerStats {
  /** explanations computed (cache misses) */
  explained: number;
  /** explanations answered from the cache */
  cached: number;
  /** recorded requests compared with a miss, over all explanations */
  compared: number;
}

export interface MissExplainerOptions {
  /** recordings one miss is compared with at most */
  candidates?: number;
  /** explanations kept, by miss key */
  cacheSize?: number;
}

export const DEFAULT_EXPLAIN_CANDIDATES = 32;
export const DEFAULT_EXPLAIN_CACHE = 1024;
const LONG_KEY = 256;

interface Candidate {
  rec: RecordedRequest;
  path: string;
  /** computed the first time a miss meets this recording */
  sig?: Signature;
}

/**
 * The key a miss is counted, logged and explained under: the exact matching
 * key (method, path, query multiset, body, matched headers), plus why a body
 * could not be decoded, which the explanation reports. Long keys are hashed so
 * a bounded number of keys is a bounded number of bytes.
 */
export function missKeyOf(req: ParsedRequest, opts: KeyOptions): string {
  const k = req.undecoded === undefined ? exactKey(req, opts) : `${exactKey(req, opts)}\n!${req.undecoded.message}`;
  return k.length > LONG_KEY ? '#' + createHash('sha1').update(k).digest('base64') : k;
}

export class HttpMissExplainer {
  readonly #opts: KeyOptions;
  readonly #cap: number;
  // Each bucket holds its first `#cap` recordings only: no miss looks further. A route
  // is method + path template; recordings of a full route go by exact path too, so
  // the cap never hides a recording of the very path missed. One map entry per route,
  // not per recording: tens of thousands of recordings cost few entries.
  readonly #byRoute = new Map<string, Candidate[]>();
  readonly #overflowByPath = new Map<string, Candidate[]>();
  readonly #byMethod = new Map<string, Candidate[]>();
  readonly #any: Candidate[] = [];
  readonly #cache: LRUCache<string, MissExplanation>;
  readonly #stats: MissExplainerStats = { explained: 0, cached: 0, compared: 0 };

  constructor(opts: KeyOptions, o: MissExplainerOptions = {}) {
    this.#opts = opts;
    this.#cap = Math.max(1, o.candidates ?? DEFAULT_EXPLAIN_CANDIDATES);
    this.#cache = new LRUCache({ max: Math.max(1, o.cacheSize ?? DEFAULT_EXPLAIN_CACHE) });
  }

  /** Adds one recorded request; cached explanations are dropped, as it may be nearer than what they name. */
  add(rec: RecordedRequest): void {
    const path = pathOf(rec.url);
    const template = shapePath(path, this.#opts);
    const c: Candidate = { rec, path };
    const route = this.#byRoute.get(`${rec.method} ${template}`);
    if (route !== undefined && route.length >= this.#cap) this.#push(this.#overflowByPath, `${rec.method} ${path}`, c);
    else this.#push(this.#byRoute, `${rec.method} ${template}`, c);
    this.#push(this.#byMethod, rec.method, c);
    if (this.#any.length < this.#cap) this.#any.push(c);
    if (this.#cache.size > 0) this.#cache.clear();
  }

  #push(map: Map<string, Candidate[]>, key: string, c: Candidate): void {
    const list = map.get(key);
    if (list === undefined) map.set(key, [c]);
    else if (list.length < this.#cap) list.push(c);
  }

  stats(): MissExplainerStats {
    return { ...this.#stats };
  }

  /** The nearest recorded request and which parts differ; `key` is the request's missKeyOf. */
  explain(req: ParsedRequest, key: string = missKeyOf(req, this.#opts)): MissExplanation {
    const hit = this.#cache.get(key);
    if (hit !== undefined) {
      this.#stats.cached++;
      return hit;
    }
    this.#stats.explained++;
    const why = this.#search(req);
    this.#cache.set(key, why);
    return why;
  }

  #search(req: ParsedRequest): MissExplanation {
    const opts = this.#opts;
    const live = signatureOf(req, opts);
    let best: Candidate | undefined;
    let bestScore = Infinity;
    // Candidates are ranked by comparing precomputed signatures; the full differences
    // (query lists, JSON paths) are worked out for the nearest one only.
    const consider = (c: Candidate): boolean => {
      this.#stats.compared++;
      c.sig ??= signatureOf(parseRequest({ ...c.rec, isDecoded: true }), opts);
      const score = scoreOf(c.sig, live);
      if (score < bestScore) {
        best = c;
        bestScore = score;
      }
      return score === 0;
    };
    const route = this.#byRoute.get(`${req.method} ${live.template}`);
    if (route !== undefined) {
      // recordings of the very path first: they differ in the fewest parts a person would look at
      let n = 0;
      let isExact = false;
      for (const c of this.#overflowByPath.get(`${req.method} ${req.path}`) ?? []) {
        n++;
        if ((isExact = consider(c))) break;
      }
      for (const c of route) {
        if (isExact || n >= this.#cap) break;
        n++;
        isExact = consider(c);
      }
    } else {
      // the same template under other methods (there are few), else the same method, else any
      let n = 0;
      for (const m of this.#byMethod.keys()) {
        for (const c of this.#byRoute.get(`${m} ${live.template}`) ?? []) {
          if (n >= this.#cap) break;
          n++;
          consider(c);
        }
      }
      if (n === 0) for (const c of this.#byMethod.get(req.method) ?? this.#any) if (consider(c)) break;
    }
    if (best === undefined) return { nearest: undefined, differences: [] };
    const r = best.rec;
    const diffs = differences(parseRequest({ ...r, isDecoded: true }), req, opts);
    return { nearest: { id: r.id, method: r.method, url: r.url }, differences: diffs };
  }
}

/** What ranking compares, each part one string (a long JSON body hashed). */
interface Signature {
  method: string;
  template: string;
  query: string;
  body: string;
  /** per matched header, its values joined */
  headers: string[];
}

function signatureOf(req: ParsedRequest, opts: KeyOptions): Signature {
  let body = '';
  if (req.isJson) {
    const j = canonicalJson(req.json, opts, true);
    body = j.length > LONG_KEY ? 'j#' + createHash('sha1').update(j).digest('base64') : 'j:' + j;
  } else if (req.content.length > 0) body = 'b#' + createHash('sha1').update(req.content).digest('base64');
  return {
    method: req.method,
    template: shapePath(req.path, opts),
    query: queryKey(req.query, opts, true),
    body,
    headers: opts.matchHeaders.map((h) => headerValues(req.headers, h).join(',')),
  };
}

/** The weight of the differences `differences` would list, from signatures alone. */
function scoreOf(a: Signature, b: Signature): number {
  let score = 0;
  if (a.method !== b.method) score += WEIGHT.method;
  if (a.template !== b.template) score += WEIGHT.path;
  if (a.query !== b.query) score += WEIGHT.query;
  if (a.body !== b.body) score += WEIGHT.body;
  for (let i = 0; i < a.headers.length; i++) if (a.headers[i] !== b.headers[i]) score += WEIGHT.headers;
  return score;
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

const WEIGHT: Record<Difference['part'], number> = { method: 8, path: 16, query: 2, body: 3, headers: 1 };

function differences(rec: ParsedRequest, live: ParsedRequest, opts: KeyOptions): Difference[] {
  const out: Difference[] = [];
  if (rec.method !== live.method) out.push({ part: 'method', expected: rec.method, actual: live.method });
  if (shapePath(rec.path, opts) !== shapePath(live.path, opts)) out.push({ part: 'path', expected: rec.path, actual: live.path });
  if (queryKey(rec.query, opts, true) !== queryKey(live.query, opts, true)) {
    out.push({ part: 'query', expected: queryDiff(rec.query, live.query), actual: queryDiff(live.query, rec.query) });
  }
  const bodyDiff = diffBodies(rec, live, opts);
  if (bodyDiff !== undefined) out.push(bodyDiff);
  for (const h of opts.matchHeaders) {
    const a = headerValues(rec.headers, h);
    const b = headerValues(live.headers, h);
    if (a.join(',') !== b.join(',')) out.push({ part: 'headers', expected: { [h]: a }, actual: { [h]: b } });
  }
  return out;
}

/** Parameters of `a` not in `b` (as a multiset). */
function queryDiff(a: ReadonlyArray<[string, string]>, b: ReadonlyArray<[string, string]>): string[] {
  const rest = b.map(([k, v]) => `${k}=${v}`);
  const out: string[] = [];
  for (const [k, v] of a) {
    const s = `${k}=${v}`;
    const i = rest.indexOf(s);
    if (i === -1) out.push(s);
    else rest.splice(i, 1);
  }
  return out;
}

function headerValues(raw: readonly string[], lower: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) if ((raw[i] as string).toLowerCase() === lower) out.push(raw[i + 1] as string);
  return out;
}

function diffBodies(rec: ParsedRequest, live: ParsedRequest, opts: KeyOptions): Difference | undefined {
  if (rec.isJson && live.isJson) {
    if (canonicalJson(rec.json, opts, true) === canonicalJson(live.json, opts, true)) return undefined;
    const paths: string[] = [];
    jsonPathsDiffering(rec.json, live.json, '$', paths, opts);
    return { part: 'body', expected: 'JSON as recorded', actual: { differingPaths: paths.slice(0, 10) } };
  }
  if (rec.content.equals(live.content)) return undefined;
  return {
    part: 'body',
    expected: { bytes: rec.content.length, json: rec.isJson },
    actual: { bytes: live.content.length, json: live.isJson, ...(live.undecoded === undefined ? {} : { notDecoded: live.undecoded.message }) },
  };
}

function jsonPathsDiffering(a: unknown, b: unknown, path: string, out: string[], opts: KeyOptions): void {
  if (out.length >= 10) return;
  const isObj = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);
  if (isObj(a) && isObj(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of [...keys].sort()) {
      const p = /^[A-Za-z_$][\w$-]*$/.test(k) ? `${path}.${k}` : `${path}['${k}']`;
      if (!(k in a) || !(k in b)) out.push(p);
      else jsonPathsDiffering(a[k], b[k], p, out, opts);
    }
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) out.push(`${path} (length ${a.length} vs ${b.length})`);
    for (let i = 0; i < Math.min(a.length, b.length); i++) jsonPathsDiffering(a[i], b[i], `${path}[${i}]`, out, opts);
    return;
  }
  // a recorded placeholder stands for any secret: matching treats redacted positions as wildcards
  if (isRedactedValue(a) || isRedactedValue(b)) return;
  if (canonicalJson(a, opts, true) !== canonicalJson(b, opts, true)) out.push(path);
}
