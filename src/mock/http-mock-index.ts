/**
 * The recordings of one HTTP dependency, indexed for O(1) lookup: a Map from
 * exact key to the recorded responses in recorded order, and a second Map from
 * shape key (value classes applied). Repeated identical requests walk the
 * sequence: per trace when the live call carries a traceparent whose trace was
 * recorded, else in global recorded order; past the end the last response repeats.
 * A miss is explained by the nearest recorded request and what differed
 * (http-miss-explainer.ts, bounded work per miss).
 */
import { decodeBody, type HttpExchange } from '../core/exchange.js';
import { stripResponseHop } from '../protocols/http/hop-by-hop.js';
import { traceIdOf, traceparentOf } from '../protocols/http/trace-links.js';
import { exactKey, parseRequest, shapeKey, type KeyOptions, type ParsedRequest } from './http-request-key.js';
import { HttpMissExplainer, missKeyOf, type MissExplainerOptions, type MissExplainerStats, type MissExplanation, type RecordedRequest } from './http-miss-explainer.js';

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

export type { Difference, MissExplanation } from './http-miss-explainer.js';

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
  /** built at the first miss, so a mock that never misses never pays for it */
  #explainer: HttpMissExplainer | undefined;
  readonly #explainOptions: MissExplainerOptions;
  readonly #arena = new BodyArena();
  readonly #groups: Group[] = [];
  readonly #intern = new Interner();
  // identical response header lists (the common case) share one array
  readonly #headerLists = new Map<string, string[]>();
  #generation = 0;
  #size = 0;

  constructor(opts: KeyOptions, explainOptions: MissExplainerOptions = {}) {
    this.#opts = opts;
    this.#explainOptions = explainOptions;
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
    this.#addTo(this.#exact, exact, entry, sample, true);
    // A request with no classed value has shape == exact: any live request of that shape
    // also has that exact key, so the shape map would only duplicate the group.
    if (shape !== exact) this.#addTo(this.#shape, shape, entry, sample, false);
    this.#size++;
    return true;
  }

  #addTo(map: Map<string, Group>, key: string, entry: Entry, sample: Sample, isExact: boolean): void {
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
        this.#explainer?.add(recordedOf(g));
      }
    } else g.entries.push(entry);
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
    if (list.length === 1) return list[0];
    if (g.cursors === undefined || g.generation !== this.#generation) {
      g.cursors = new Map();
      g.generation = this.#generation;
    }
    const i = g.cursors.get(scope) ?? 0;
    g.cursors.set(scope, i + 1);
    return list[Math.min(i, list.length - 1)];
  }

  /** The key a miss is counted and explained under. */
  missKey(req: ParsedRequest): string {
    return missKeyOf(req, this.#opts);
  }

  /** The nearest recorded request and which parts differ. Slow path: misses only, bounded per miss. */
  explain(req: ParsedRequest, key?: string): MissExplanation {
    let explainer = this.#explainer;
    if (explainer === undefined) {
      explainer = new HttpMissExplainer(this.#opts, this.#explainOptions);
      for (const g of this.#groups) explainer.add(recordedOf(g));
      this.#explainer = explainer;
    }
    return explainer.explain(req, key);
  }

  /** Work the miss explanations have done; zeros until the first miss. */
  explainStats(): MissExplainerStats {
    return this.#explainer?.stats() ?? { explained: 0, cached: 0, compared: 0 };
  }
}

const EMPTY_BODY = Buffer.alloc(0);

function recordedOf(g: Group): RecordedRequest {
  return { id: (g.entries[0] as Entry).id, method: g.method, url: g.url, body: g.reqBody, headers: g.reqHeaders };
}
