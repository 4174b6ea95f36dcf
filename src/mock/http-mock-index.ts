/**
 * The recordings of one HTTP dependency, indexed for O(1) lookup: a Map from
 * exact key to the recorded responses in recorded order, and a second Map from
 * shape key (value classes applied). Repeated identical requests walk the
 * sequence: per trace when the live call carries a traceparent whose trace was
 * recorded, else in global recorded order; past the end the last response repeats.
 * A miss is explained by the nearest recorded request and what differed.
 */
import { decodeBody, type HttpExchange } from '../core/exchange.js';
import { isRedactedValue } from '../core/redact.js';
import { stripResponseHop } from '../capture/hop-by-hop.js';
import { traceIdOf, traceparentOf } from '../capture/trace-links.js';
import { canonicalJson, exactKey, parseRequest, queryKey, shapeKey, shapePath, type KeyOptions, type ParsedRequest } from './http-request-key.js';

/**
 * Bodies of all recorded responses live in a few large slabs; a response keeps
 * offsets, not its own Buffer object, which would cost more than a small body.
 */
class BodyArena {
  readonly slabs: Buffer[] = [];
  #used = 0;
  static readonly SLAB = 1024 * 1024;

  store(body: Buffer): [number, number] {
    if (body.length >= BodyArena.SLAB / 4) {
      this.slabs.push(Buffer.from(body));
      return [this.slabs.length - 1, 0];
    }
    let slab = this.slabs[this.slabs.length - 1];
    if (slab === undefined || slab.length !== BodyArena.SLAB || this.#used + body.length > BodyArena.SLAB) {
      slab = Buffer.allocUnsafeSlow(BodyArena.SLAB);
      this.slabs.push(slab);
      this.#used = 0;
    }
    body.copy(slab, this.#used);
    const off = this.#used;
    this.#used += body.length;
    return [this.slabs.length - 1, off];
  }
}

/** One recorded response, ready to serve. */
export class MockResponse {
  /** recorded exchange id */
  readonly id: string;
  readonly status: number;
  /** flat list ready for writeHead, framing headers recomputed */
  readonly headers: string[];
  readonly trailers: Array<[string, string]> | undefined;
  readonly durationMs: number;
  /** trace id of the recorded request, when it carried a traceparent */
  readonly trace: string | undefined;
  readonly #arena: BodyArena;
  readonly #slab: number;
  readonly #offset: number;
  readonly #length: number;

  constructor(
    id: string,
    status: number,
    headers: string[],
    trailers: Array<[string, string]> | undefined,
    durationMs: number,
    trace: string | undefined,
    arena: BodyArena,
    body: Buffer,
  ) {
    this.id = id;
    this.status = status;
    this.headers = headers;
    this.trailers = trailers;
    this.durationMs = durationMs;
    this.trace = trace;
    this.#arena = arena;
    this.#length = body.length;
    if (body.length === 0) {
      this.#slab = -1;
      this.#offset = 0;
    } else [this.#slab, this.#offset] = arena.store(body);
  }

  /** a view of the recorded body (no copy) */
  body(): Buffer {
    if (this.#slab === -1) return EMPTY_BODY;
    const slab = this.#arena.slabs[this.#slab] as Buffer;
    return slab.subarray(this.#offset, this.#offset + this.#length);
  }
}

type Entry = MockResponse;

/** The first recorded request of a group, kept compact and parsed again only to explain a miss. */
interface Sample {
  method: string;
  url: string;
  /** decoded when it was sent with a Content-Encoding */
  body: Buffer;
  headers: readonly string[];
}

interface Group {
  entries: Entry[];
  byTrace: Map<string, Entry[]> | undefined;
  /** cursor per scope ('' = global, else trace id); cleared lazily when the generation moves */
  cursors: Map<string, number> | undefined;
  generation: number;
  /** the first recorded request (its fields inline: one object less per group) */
  method: string;
  url: string;
  reqBody: Buffer;
  reqHeaders: readonly string[];
}

function sampleOf(g: Group): Sample & { isDecoded: true } {
  return { method: g.method, url: g.url, body: g.reqBody, headers: g.reqHeaders, isDecoded: true };
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
const NO_HEADERS: readonly string[] = [];

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
  /** method + shape path -> groups, for explanations; built at the first miss, so a mock that never misses never pays for it */
  #byPath: Map<string, Group | Group[]> | undefined;
  readonly #arena = new BodyArena();
  readonly #groups: Group[] = [];
  readonly #intern = new Interner();
  // identical response header lists (the common case) share one array
  readonly #headerLists = new Map<string, string[]>();
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
    const reqBody = req.truncated || req.body === '' ? EMPTY_BODY : decodeBody(req.body, req.bodyEncoding);
    const flatReq: string[] = [];
    for (const [k, v] of req.headers) flatReq.push(k, v);
    const parsed = parseRequest({ method: req.method, url: req.url, headers: flatReq, body: reqBody }, this.#opts.maxDecodedBytes);
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
    const headerKey = headers.join('\u0001');
    let shared = this.#headerLists.get(headerKey);
    if (shared === undefined) {
      shared = headers;
      if (this.#headerLists.size < 100_000) this.#headerLists.set(headerKey, headers);
    }
    const trace = traceIdOf(traceparentOf(flatReq));
    const entry: Entry = new MockResponse(ex.id, rec.status, shared, trailers, ex.durationMs, trace, this.#arena, body);
    const sample: Sample = {
      method: parsed.method,
      url: req.url,
      // kept decoded: a miss is explained by what the bodies mean
      body: parsed.content.length === 0 ? EMPTY_BODY : parsed.content,
      headers: this.#opts.matchHeaders.length === 0 ? NO_HEADERS : flatReq,
    };
    const exact = exactKey(parsed, this.#opts);
    const shape = shapeKey(parsed, this.#opts);
    this.#addTo(this.#exact, exact, entry, sample, parsed.path, true);
    // A request with no classed value has shape == exact: any live request of that shape
    // also has that exact key, so the shape map would only duplicate the group.
    if (shape !== exact) this.#addTo(this.#shape, shape, entry, sample, parsed.path, false);
    this.#size++;
    return true;
  }

  #addTo(map: Map<string, Group>, key: string, entry: Entry, sample: Sample, path: string, isExact: boolean): void {
    let g = map.get(key);
    if (g === undefined) {
      g = {
        // a literal of one: pushing into [] would reserve room for 17
        entries: [entry],
        byTrace: undefined,
        cursors: undefined,
        generation: this.#generation,
        method: sample.method,
        url: sample.url,
        reqBody: sample.body,
        reqHeaders: sample.headers,
      };
      map.set(key, g);
      if (isExact) {
        this.#groups.push(g);
        if (this.#byPath !== undefined) this.#indexPath(this.#byPath, g, path);
      }
    } else g.entries.push(entry);
    if (entry.trace !== undefined) {
      g.byTrace ??= new Map();
      const t = g.byTrace.get(entry.trace);
      if (t) t.push(entry);
      else g.byTrace.set(entry.trace, [entry]);
    }
  }

  #indexPath(byPath: Map<string, Group | Group[]>, g: Group, path: string): void {
    const p = `${g.method} ${shapePath(path, this.#opts)}`;
    const list = byPath.get(p);
    if (list === undefined) byPath.set(p, g);
    else if (Array.isArray(list)) list.push(g);
    else byPath.set(p, [list, g]);
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
    if (list.length === 1) return list[0];
    if (g.cursors === undefined || g.generation !== this.#generation) {
      g.cursors = new Map();
      g.generation = this.#generation;
    }
    const i = g.cursors.get(scope) ?? 0;
    g.cursors.set(scope, i + 1);
    return list[Math.min(i, list.length - 1)];
  }

  /** The nearest recorded request and which parts differ. Slow path: misses only. */
  explain(req: ParsedRequest): MissExplanation {
    const opts = this.#opts;
    let byPath = this.#byPath;
    if (byPath === undefined) {
      byPath = new Map();
      for (const g of this.#groups) this.#indexPath(byPath, g, pathOf(g.url));
      this.#byPath = byPath;
    }
    const found = byPath.get(`${req.method} ${shapePath(req.path, opts)}`);
    let pool = found === undefined ? undefined : Array.isArray(found) ? found : [found];
    if (pool === undefined) {
      const sp = shapePath(req.path, opts);
      pool = this.#groups.filter((g) => shapePath(pathOf(g.url), opts) === sp);
      if (pool.length === 0) pool = this.#groups.filter((g) => g.method === req.method);
      if (pool.length === 0) pool = this.#groups;
    }
    let best: { g: Group; diffs: Difference[]; score: number } | undefined;
    const n = Math.min(pool.length, MAX_EXPLAIN_GROUPS);
    for (let i = 0; i < n; i++) {
      const g = pool[i] as Group;
      const diffs = differences(parseRequest(sampleOf(g)), req, opts);
      const score = diffs.reduce((s, d) => s + WEIGHT[d.part], 0);
      if (best === undefined || score < best.score) best = { g, diffs, score };
      if (score === 0) break;
    }
    if (best === undefined) return { nearest: undefined, differences: [] };
    const first = best.g.entries[0] as Entry;
    return { nearest: { id: first.id, method: best.g.method, url: best.g.url }, differences: best.diffs };
  }
}

const EMPTY_BODY = Buffer.alloc(0);

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
