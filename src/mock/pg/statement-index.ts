/**
 * The Postgres mock's index over recorded `pg` exchanges. A statement
 * matches by its canonical SQL shape (libpg-query scanner) plus its literal
 * and parameter values; values of one value class (uuid, timestamp, ...)
 * match each other when no exact recording exists. Matching is across
 * connections: pools open connections in another number and order at
 * replay. Identical statements are answered in recorded order, and the
 * recorded connection a client connection last matched is preferred, so a
 * statement and the ones that depend on its result come from one recording.
 */
import { classifyValue } from '../../compare/value-classes.js';
import type { PgExchange, PgField, PgQueryRequest, PgQueryResponse, PgStartupResponse, PgValue } from '../../core/exchange.js';
import type { SqlAnalyzer, SqlShape } from '../../protocols/pg/sql-normalizer.js';
import { binaryToText } from '../../protocols/pg/type-codec.js';
import { traceIdOfSql } from '../../protocols/pg/sqlcommenter.js';

export interface PgEntry {
  id: string;
  connection: string;
  seq: number;
  request: PgQueryRequest;
  response: PgQueryResponse;
  /** where an extended-protocol error happened (parse, bind, describe, execute, sync) */
  errorPhase: string | undefined;
  isUsed: boolean;
  /** the recorded SQL's shape, so an exact-text hit needs no scan */
  shape: SqlShape | undefined;
  /** W3C trace id from the statement's sqlcommenter comment, when it has one */
  traceId: string | undefined;
}

export interface Affinity {
  connection: string;
  seq: number;
}

export interface StatementInfo {
  paramTypes: number[];
  fields: PgField[];
  hasFields: boolean;
}

export interface NearestRecorded {
  sql: string;
  /** what differed: "parameter $2", "literal 3", or "statement text" */
  differs: string;
  recordedValues?: string[];
}

interface Bucket {
  entries: PgEntry[];
  next: number;
}

const SEP = '\u0001';
const VSEP = '\u0002';
const NULL_KEY = '\u0000N';
/** Stands for a parameter an ignore rule says is not matched. */
const IGNORED_KEY = '\u0000*';
/** entries looked at past the head of a bucket when looking for the preferred connection */
const AFFINITY_WINDOW = 64;
const NEAREST_SCAN_LIMIT = 5000;
/** entries looked at past the head of a bucket for one of the same trace (live feeds keep a bucket short) */
const TRACE_WINDOW = 1024;
const UTC = { timeZone: 'UTC' };

/** A parameter as a comparable string: text as is, binary decoded to text when the type is known. */
export function paramKey(value: PgValue | Buffer, format: number, typeOid: number | undefined): string {
  if (value === null) return NULL_KEY;
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) {
    if (format === 0) return value.toString('utf8');
    const t = typeOid ? binaryToText(typeOid, value, UTC) : undefined;
    return t ?? `b64:${value.toString('base64')}`;
  }
  if (typeOid) {
    const t = binaryToText(typeOid, Buffer.from(value.b64, 'base64'), UTC);
    if (t !== undefined) return t;
  }
  return `b64:${value.b64}`;
}

function classed(v: string): string {
  const c = classifyValue(v);
  return c === undefined ? v : `\u0003${c}`;
}

export class PgIndex {
  readonly #analyzer: SqlAnalyzer;
  readonly #raw = new Map<string, Bucket>();
  readonly #exact = new Map<string, Bucket>();
  readonly #classed = new Map<string, Bucket>();
  /** shape -> first entry, for explaining misses */
  readonly #byShape = new Map<string, PgEntry>();
  readonly #statements = new Map<string, StatementInfo>();
  readonly #parseErrors = new Map<string, PgEntry>();
  #startup: PgStartupResponse | undefined;
  #size = 0;

  readonly #ignoredParams: ReadonlySet<number>;

  /** `ignoredParams`: 0-based positions of parameters that do not take part in matching. */
  constructor(analyzer: SqlAnalyzer, ignoredParams: ReadonlySet<number> = new Set()) {
    this.#analyzer = analyzer;
    this.#ignoredParams = ignoredParams;
  }

  #mask(params: readonly string[]): readonly string[] {
    if (this.#ignoredParams.size === 0) return params;
    return params.map((p, i) => (this.#ignoredParams.has(i) ? IGNORED_KEY : p));
  }

  get size(): number {
    return this.#size;
  }

  get startup(): PgStartupResponse | undefined {
    return this.#startup;
  }

  analyze(sql: string): SqlShape {
    return this.#analyzer.analyze(sql);
  }

  /** Indexes one exchange; returns its entry (undefined for a startup exchange), indexed or not. */
  add(ex: PgExchange): PgEntry | undefined {
    const pg = ex.pg;
    if (pg.request.kind === 'startup') {
      const res = pg.response as PgStartupResponse;
      if (this.#startup === undefined && res.error === null && res.parameterStatus.length > 0) this.#startup = res;
      return undefined;
    }
    const request = pg.request;
    const response = pg.response as PgQueryResponse;
    const entry: PgEntry = {
      id: ex.id,
      connection: pg.connection,
      seq: pg.seq,
      request,
      response,
      errorPhase: ex.tags.pgErrorPhase,
      isUsed: false,
      shape: undefined,
      traceId: traceIdOfSql(request.sql),
    };
    const shape = this.#analyzer.analyze(request.sql);
    entry.shape = shape;
    // COPY is answered "not supported" by the mock; a recorded one could not be replayed without its data stream.
    if (shape.commands.includes('copy')) return entry;
    // The mock answers "current transaction is aborted" itself from its own
    // transaction state; a recorded one says only where the recorded session was.
    if (response.error?.code === '25P02') return entry;
    if (entry.errorPhase === 'parse') {
      if (!this.#parseErrors.has(shape.shape)) this.#parseErrors.set(shape.shape, entry);
      return entry;
    }
    this.#size++;
    if (request.kind === 'extended') this.#noteStatement(shape, request, response);
    const params = this.#mask((request.params ?? []).map((p, i) => paramKey(p, 1, request.paramTypes?.[i])));
    this.#bucket(this.#raw, rawKey(request.sql, params)).entries.push(entry);
    this.#bucket(this.#exact, exactKey(shape, params)).entries.push(entry);
    const ck = classKey(shape, params);
    if (ck !== undefined) this.#bucket(this.#classed, ck).entries.push(entry);
    if (!this.#byShape.has(shape.shape)) this.#byShape.set(shape.shape, entry);
    return entry;
  }

  /**
   * Forgets one entry `add` returned (a live feed keeps only a window of
   * recordings). Entries older than the bucket's cursor shift it back, so the
   * order of the rest is kept.
   */
  remove(entry: PgEntry): void {
    const shape = entry.shape;
    if (shape === undefined) return;
    if (this.#parseErrors.get(shape.shape) === entry) {
      this.#parseErrors.delete(shape.shape);
      return;
    }
    const request = entry.request;
    const params = this.#mask((request.params ?? []).map((p, i) => paramKey(p, 1, request.paramTypes?.[i])));
    if (!unbucket(this.#raw, rawKey(request.sql, params), entry)) return;
    this.#size--;
    unbucket(this.#exact, exactKey(shape, params), entry);
    const ck = classKey(shape, params);
    if (ck !== undefined) unbucket(this.#classed, ck, entry);
    if (this.#byShape.get(shape.shape) === entry) this.#byShape.delete(shape.shape);
  }

  #noteStatement(shape: SqlShape, request: PgQueryRequest, response: PgQueryResponse): void {
    const prev = this.#statements.get(shape.shape);
    const first = response.results[0];
    const hasFields = first !== undefined && (first.fields.length > 0 || first.rows.length === 0);
    if (prev && (prev.hasFields || !hasFields)) return;
    this.#statements.set(shape.shape, {
      paramTypes: request.paramTypes ?? [],
      fields: (first?.fields ?? []).map((f) => ({ ...f, format: 0 })),
      hasFields,
    });
  }

  #bucket(map: Map<string, Bucket>, key: string): Bucket {
    let b = map.get(key);
    if (b === undefined) {
      b = { entries: [], next: 0 };
      map.set(key, b);
    }
    return b;
  }

  /** Statement-level description (Describe of a prepared statement): parameter types and result columns. */
  describeStatement(sql: string): StatementInfo | undefined {
    return this.#statements.get(this.#analyzer.analyze(sql).shape);
  }

  parseError(sql: string): PgEntry | undefined {
    return this.#parseErrors.get(this.#analyzer.analyze(sql).shape);
  }

  /** Like take, for the exact recorded text only: no scan of the SQL. */
  takeRaw(sql: string, live: readonly string[], affinity: Affinity | undefined, traceId?: string): PgEntry | undefined {
    const params = this.#mask(live);
    const b = this.#raw.get(rawKey(sql, params));
    if (b === undefined) return undefined;
    const e = pick(b, affinity, traceId);
    e.isUsed = true;
    return e;
  }

  /**
   * The recording answering `sql` with `params` (already paramKey'd), or
   * undefined. Takes the entry (marks it used) so repeats go in order.
   */
  take(sql: string, live: readonly string[], affinity: Affinity | undefined, traceId?: string): PgEntry | undefined {
    const params = this.#mask(live);
    let b = this.#raw.get(rawKey(sql, params));
    if (b === undefined) {
      const shape = this.#analyzer.analyze(sql);
      b = this.#exact.get(exactKey(shape, params));
      if (b === undefined) {
        const ck = classKey(shape, params);
        if (ck !== undefined) b = this.#classed.get(ck);
      }
    }
    if (b === undefined) return undefined;
    const e = pick(b, affinity, traceId);
    e.isUsed = true;
    return e;
  }

  /** The recorded statement closest to a missed one, and what differed. */
  nearest(sql: string, params: readonly string[]): NearestRecorded | undefined {
    const shape = this.#analyzer.analyze(sql);
    const same = this.#byShape.get(shape.shape);
    if (same) {
      const recShape = this.#analyzer.analyze(same.request.sql);
      const recParams = (same.request.params ?? []).map((p, i) => paramKey(p, 1, same.request.paramTypes?.[i]));
      for (let i = 0; i < Math.max(recShape.literals.length, shape.literals.length); i++) {
        if (recShape.literals[i] !== shape.literals[i]) return { sql: same.request.sql, differs: `literal ${i + 1}`, recordedValues: recShape.literals };
      }
      for (let i = 0; i < Math.max(recParams.length, params.length); i++) {
        if (recParams[i] !== params[i] && !this.#ignoredParams.has(i)) return { sql: same.request.sql, differs: `parameter $${i + 1}`, recordedValues: recParams };
      }
      return { sql: same.request.sql, differs: 'values' };
    }
    const want = new Set(shape.shape.split(' '));
    let best: PgEntry | undefined;
    let bestScore = 0;
    let n = 0;
    for (const [s, e] of this.#byShape) {
      if (++n > NEAREST_SCAN_LIMIT) break;
      const toks = s.split(' ');
      let common = 0;
      for (const t of toks) if (want.has(t)) common++;
      const score = common / (toks.length + want.size - common || 1);
      if (score > bestScore) {
        bestScore = score;
        best = e;
      }
    }
    return best ? { sql: best.request.sql, differs: 'statement text' } : undefined;
  }

  /** Forget which recordings were used (a new run starts). */
  reset(): void {
    for (const map of [this.#raw, this.#exact, this.#classed]) {
      for (const b of map.values()) {
        b.next = 0;
        for (const e of b.entries) e.isUsed = false;
      }
    }
  }
}

/** Takes `entry` out of its bucket; false when it was not there (not indexed). */
function unbucket(map: Map<string, Bucket>, key: string, entry: PgEntry): boolean {
  const b = map.get(key);
  if (b === undefined) return false;
  // A live feed removes its oldest entries first: they sit at the head.
  const i = b.entries.indexOf(entry);
  if (i < 0) return false;
  b.entries.splice(i, 1);
  if (b.entries.length === 0) map.delete(key);
  else if (i < b.next) b.next--;
  return true;
}

function rawKey(sql: string, params: readonly string[]): string {
  return sql + SEP + params.join(VSEP);
}

function exactKey(shape: SqlShape, params: readonly string[]): string {
  return shape.shape + SEP + shape.literals.join(VSEP) + SEP + params.join(VSEP);
}

/** The key with value classes in place of classed values; undefined when no value has a class. */
function classKey(shape: SqlShape, params: readonly string[]): string | undefined {
  let hasClass = false;
  const lits = shape.literals.map((v) => {
    const c = classed(v);
    if (c !== v) hasClass = true;
    return c;
  });
  const ps = params.map((v) => {
    const c = classed(v);
    if (c !== v) hasClass = true;
    return c;
  });
  if (!hasClass) return undefined;
  return shape.shape + SEP + lits.join(VSEP) + SEP + ps.join(VSEP);
}

function pick(b: Bucket, affinity: Affinity | undefined, traceId: string | undefined): PgEntry {
  const es = b.entries;
  while (b.next < es.length && (es[b.next] as PgEntry).isUsed) b.next++;
  if (traceId !== undefined) {
    // Same trace: the primary's statement for the very request the candidate is answering.
    const end = Math.min(es.length, b.next + TRACE_WINDOW);
    for (let i = b.next; i < end; i++) {
      const e = es[i] as PgEntry;
      if (!e.isUsed && e.traceId === traceId) return e;
    }
  }
  if (affinity !== undefined) {
    const end = Math.min(es.length, b.next + AFFINITY_WINDOW);
    for (let i = b.next; i < end; i++) {
      const e = es[i] as PgEntry;
      if (!e.isUsed && e.connection === affinity.connection && e.seq > affinity.seq) return e;
    }
  }
  // Every recording used: the last one keeps answering.
  return (es[b.next] ?? es[es.length - 1]) as PgEntry;
}
