/**
 * The recordings of one HTTP dependency, indexed for O(1) lookup: a Map from
 * exact key to the recorded responses in recorded order, and a second Map from
 * shape key (value classes applied). Repeated identical requests walk the
 * sequence: per trace when the live call carries a traceparent whose trace was
 * recorded, else in global recorded order; past the end the last response repeats.
 * A miss is explained by the nearest recorded request and what differed.
 */
import { decodeBody, type HttpExchange } from '../core/exchange.js';
import { stripResponseHop } from '../capture/hop-by-hop.js';
import { traceIdOf, traceparentOf } from '../capture/trace-links.js';
import { canonicalJson, exactKey, parseRequest, queryKey, shapeKey, shapePath, type KeyOptions, type ParsedRequest } from './http-request-key.js';

export interface MockResponse {
  /** recorded exchange id, or stub id */
  id: string;
  status: number;
  /** flat list ready for writeHead, framing headers recomputed */
  headers: string[];
  body: Buffer;
  trailers: Array<[string, string]> | undefined;
  durationMs: number;
}

interface Entry {
  response: MockResponse;
  trace: string | undefined;
}

interface Group {
  entries: Entry[];
  byTrace: Map<string, Entry[]> | undefined;
  /** cursor per scope ('' = global, else trace id); cleared lazily when the generation moves */
  cursors: Map<string, number>;
  generation: number;
  /** the first recorded request, kept for miss explanations */
  sample: ParsedRequest;
  sampleUrl: string;
}

export interface Difference {
  part: 'method' | 'path' | 'query' | 'body' | 'headers';
  expected: unknown;
  actual: unknown;
}

export interface MissExplanation {
  nearest: { id: string; method: string; url: string } | undefined;
  differences: Difference[];
}

const MAX_EXPLAIN_GROUPS = 2_000;

// Header names and common values repeat across thousands of exchanges: share one string each.
class Interner {
  #map = new Map<string, string>();
  get(s: string): string {
    if (s.length > 128) return s;
    const hit = this.#map.get(s);
    if (hit !== undefined) return hit;
    if (this.#map.size < 50_000) this.#map.set(s, s);
    return s;
  }
}

function isBodiless(method: string, status: number): boolean {
  return method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200);
}

export class HttpMockIndex {
  readonly #opts: KeyOptions;
  readonly #exact = new Map<string, Group>();
  readonly #shape = new Map<string, Group>();
  readonly #byPath = new Map<string, Group[]>();
  readonly #groups: Group[] = [];
  readonly #intern = new Interner();
  #generation = 0;
  #size = 0;

  constructor(opts: KeyOptions) {
    this.#opts = opts;
  }

  get size(): number {
    return this.#size;
  }

  get keyOptions(): KeyOptions {
    return this.#opts;
  }

  /** Adds one recorded exchange; false when it holds no usable response. */
  add(ex: HttpExchange): boolean {
    const rec = ex.http.response;
    if (rec === null || rec === undefined) return false;
    const req = ex.http.request;
    const reqBody = req.truncated ? Buffer.alloc(0) : decodeBody(req.body, req.bodyEncoding);
    const flatReq: string[] = [];
    for (const [k, v] of req.headers) flatReq.push(k, v);
    const parsed = parseRequest({ method: req.method, url: req.url, headers: flatReq, body: reqBody });
    const body = decodeBody(rec.body, rec.bodyEncoding);
    const flat: string[] = [];
    for (const [k, v] of rec.headers) flat.push(k, v);
    const kept = stripResponseHop(flat);
    const headers: string[] = [];
    let recordedLength: string | undefined;
    for (let i = 0; i + 1 < kept.length; i += 2) {
      const name = kept[i] as string;
      const lower = name.toLowerCase();
      if (lower === 'content-length') {
        recordedLength = kept[i + 1];
        continue;
      }
      headers.push(this.#intern.get(name), this.#intern.get(kept[i + 1] as string));
    }
    const trailers = rec.trailers && rec.trailers.length > 0 ? rec.trailers.map(([k, v]) => [k, v] as [string, string]) : undefined;
    if (trailers === undefined) {
      // Framing is ours: the body may be truncated, so its real length wins, except where a body never goes.
      if (isBodiless(parsed.method, rec.status)) {
        if (recordedLength !== undefined) headers.push('Content-Length', recordedLength);
      } else headers.push('Content-Length', String(body.length));
    }
    const response: MockResponse = {
      id: ex.id,
      status: rec.status,
      headers,
      body,
      trailers,
      durationMs: ex.durationMs,
    };
    const trace = traceIdOf(traceparentOf(flatReq));
    const entry: Entry = { response, trace };
    this.#addTo(this.#exact, exactKey(parsed, this.#opts), entry, parsed, req.url, true);
    this.#addTo(this.#shape, shapeKey(parsed, this.#opts), entry, parsed, req.url, false);
    this.#size++;
    return true;
  }

  #addTo(map: Map<string, Group>, key: string, entry: Entry, parsed: ParsedRequest, url: string, isExact: boolean): void {
    let g = map.get(key);
    if (g === undefined) {
      g = { entries: [], byTrace: undefined, cursors: new Map(), generation: this.#generation, sample: parsed, sampleUrl: url };
      map.set(key, g);
      if (isExact) {
        this.#groups.push(g);
        const p = `${parsed.method} ${shapePath(parsed.path, this.#opts)}`;
        const list = this.#byPath.get(p);
        if (list) list.push(g);
        else this.#byPath.set(p, [g]);
      }
    }
    g.entries.push(entry);
    if (entry.trace !== undefined) {
      g.byTrace ??= new Map();
      const t = g.byTrace.get(entry.trace);
      if (t) t.push(entry);
      else g.byTrace.set(entry.trace, [entry]);
    }
  }

  /** Sequence state back to the start (a run starts). */
  reset(): void {
    this.#generation++;
  }

  /** The next recorded response for this request, or undefined on a miss. */
  lookup(req: ParsedRequest, traceparent: string | undefined): MockResponse | undefined {
    const g = this.#exact.get(exactKey(req, this.#opts)) ?? this.#shape.get(shapeKey(req, this.#opts));
    if (g === undefined) return undefined;
    let list = g.entries;
    let scope = '';
    if (traceparent !== undefined && g.byTrace !== undefined) {
      const trace = traceIdOf(traceparent);
      const scoped = trace === undefined ? undefined : g.byTrace.get(trace);
      if (scoped !== undefined) {
        list = scoped;
        scope = trace as string;
      }
    }
    if (list.length === 1) return (list[0] as Entry).response;
    if (g.generation !== this.#generation) {
      g.cursors.clear();
      g.generation = this.#generation;
    }
    const i = g.cursors.get(scope) ?? 0;
    g.cursors.set(scope, i + 1);
    return (list[Math.min(i, list.length - 1)] as Entry).response;
  }

  /** The nearest recorded request and which parts differ. Slow path: misses only. */
  explain(req: ParsedRequest): MissExplanation {
    const opts = this.#opts;
    let pool = this.#byPath.get(`${req.method} ${shapePath(req.path, opts)}`);
    if (pool === undefined) {
      const sp = shapePath(req.path, opts);
      pool = this.#groups.filter((g) => shapePath(g.sample.path, opts) === sp);
      if (pool.length === 0) pool = this.#groups.filter((g) => g.sample.method === req.method);
      if (pool.length === 0) pool = this.#groups;
    }
    let best: { g: Group; diffs: Difference[]; score: number } | undefined;
    const n = Math.min(pool.length, MAX_EXPLAIN_GROUPS);
    for (let i = 0; i < n; i++) {
      const g = pool[i] as Group;
      const diffs = differences(g.sample, req, opts);
      const score = diffs.reduce((s, d) => s + WEIGHT[d.part], 0);
      if (best === undefined || score < best.score) best = { g, diffs, score };
      if (score === 0) break;
    }
    if (best === undefined) return { nearest: undefined, differences: [] };
    const first = best.g.entries[0] as Entry;
    return { nearest: { id: first.response.id, method: best.g.sample.method, url: best.g.sampleUrl }, differences: best.diffs };
  }
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
  if (rec.body.equals(live.body)) return undefined;
  return {
    part: 'body',
    expected: { bytes: rec.body.length, json: rec.isJson },
    actual: { bytes: live.body.length, json: live.isJson },
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
  if (canonicalJson(a, opts, true) !== canonicalJson(b, opts, true)) out.push(path);
}
