/**
 * The store line of a recorded `pg` exchange, written out directly. In the
 * record relay's CPU profiles JSON.stringify of each exchange was the largest
 * JavaScript item; this builds the same text from the known shape at about
 * two thirds of its cost.
 *
 * The text is exactly JSON.stringify's for the objects toPgExchange makes
 * from a PgRecordSession: the same keys in the same order, optional keys left
 * out when undefined, strings escaped by JSON.stringify itself whenever they
 * hold anything to escape (ids, ISO times and the enumerations never do). Parts whose key order comes from elsewhere (error
 * and notice fields, tags, a startup exchange) go through JSON.stringify.
 * Callers that build exchanges another way use encodeExchange instead.
 */
import type { PgExchange, PgField, PgQueryRequest, PgQueryResponse, PgResult, PgValue } from '../../core/exchange.js';

/** Anything JSON.stringify would escape: quote, backslash, control characters, surrogates (lone ones are escaped). */
// eslint-disable-next-line no-control-regex -- the control characters are what is looked for
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

function str(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

function num(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null';
}

/**
 * A duration rounded to the microsecond (k / 1000, as toPgExchange stores
 * it), as String() writes it. Writing out a fraction costs V8 about 300 ns
 * (shortest round-trip digits); this builds the same text from the integer
 * k at about a seventh of that. For k / 1000 below 2^42 no other decimal of
 * at most three fraction digits reaches the same double, so String() writes
 * exactly k's digits with trailing zeros dropped. Anything else goes to num.
 */
export function millis3(d: number): string {
  const k = Math.round(d * 1000);
  if (!(d >= 0 && d < 1e9) || k / 1000 !== d) return num(d);
  const whole = Math.trunc(k / 1000);
  const frac = k - whole * 1000;
  if (frac === 0) return String(whole);
  if (frac % 100 === 0) return `${whole}.${frac / 100}`;
  if (frac % 10 === 0) return `${whole}.${frac < 100 ? '0' : ''}${frac / 10}`;
  return `${whole}.${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}`;
}

function value(v: PgValue): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return str(v);
  return `{"b64":${str(v.b64)}}`;
}

function values(vs: readonly PgValue[]): string {
  let out = '[';
  for (let i = 0; i < vs.length; i++) out += i === 0 ? value(vs[i] as PgValue) : `,${value(vs[i] as PgValue)}`;
  return `${out}]`;
}

function numbers(ns: readonly number[]): string {
  let out = '[';
  for (let i = 0; i < ns.length; i++) out += i === 0 ? num(ns[i] as number) : `,${num(ns[i] as number)}`;
  return `${out}]`;
}

interface FieldText {
  tableOid: number;
  column: number;
  typeOid: number;
  typeSize: number;
  typeMod: number;
  format: number;
  text: string;
}

/**
 * The last text written for a column of each name. A statement's columns come
 * back with every execution, as new objects with the same values: comparing
 * six numbers costs less than writing them out again.
 */
const fieldTexts = new Map<string, FieldText>();
const FIELD_TEXTS_MAX = 4096;

function field(f: PgField): string {
  const hit = fieldTexts.get(f.name);
  if (hit !== undefined && hit.tableOid === f.tableOid && hit.column === f.column && hit.typeOid === f.typeOid && hit.typeSize === f.typeSize && hit.typeMod === f.typeMod && hit.format === f.format) {
    return hit.text;
  }
  const text = `{"name":${str(f.name)},"tableOid":${num(f.tableOid)},"column":${num(f.column)},"typeOid":${num(f.typeOid)},"typeSize":${num(f.typeSize)},"typeMod":${num(f.typeMod)},"format":${num(f.format)}}`;
  if (fieldTexts.size >= FIELD_TEXTS_MAX) fieldTexts.clear();
  fieldTexts.set(f.name, { tableOid: f.tableOid, column: f.column, typeOid: f.typeOid, typeSize: f.typeSize, typeMod: f.typeMod, format: f.format, text });
  return text;
}

function result(r: PgResult): string {
  let out = '{"fields":[';
  for (let i = 0; i < r.fields.length; i++) out += i === 0 ? field(r.fields[i] as PgField) : `,${field(r.fields[i] as PgField)}`;
  out += '],"rows":[';
  for (let i = 0; i < r.rows.length; i++) out += i === 0 ? values(r.rows[i] as PgValue[]) : `,${values(r.rows[i] as PgValue[])}`;
  out += `],"command":${r.command === null ? 'null' : str(r.command)}`;
  if (r.suspended !== undefined) out += `,"suspended":${r.suspended ? 'true' : 'false'}`;
  return `${out}}`;
}

function request(q: PgQueryRequest): string {
  let out = `{"kind":"${q.kind}","sql":${str(q.sql)}`;
  if (q.params !== undefined) out += `,"params":${values(q.params)}`;
  if (q.paramTypes !== undefined) out += `,"paramTypes":${numbers(q.paramTypes)}`;
  if (q.resultFormats !== undefined) out += `,"resultFormats":${numbers(q.resultFormats)}`;
  if (q.statement !== undefined) out += `,"statement":${str(q.statement)}`;
  return `${out}}`;
}

function response(r: PgQueryResponse): string {
  let out = '{"results":[';
  for (let i = 0; i < r.results.length; i++) out += i === 0 ? result(r.results[i] as PgResult) : `,${result(r.results[i] as PgResult)}`;
  const error = r.error === null ? 'null' : JSON.stringify(r.error);
  const notices = r.notices.length === 0 ? '[]' : JSON.stringify(r.notices);
  return `${out}],"error":${error},"notices":${notices},"txStatus":"${r.txStatus}"}`;
}

function hasKeys(o: object): boolean {
  for (const _ in o) return true;
  return false;
}

/** The line (no newline) the store writes for a pg exchange made by toPgExchange. */
export function pgExchangeLine(ex: PgExchange): string {
  const pg = ex.pg;
  if (pg.request.kind === 'startup') return JSON.stringify(ex);
  const parent = ex.parent === null ? 'null' : str(ex.parent);
  const tags = hasKeys(ex.tags) ? JSON.stringify(ex.tags) : '{}';
  const session = str(ex.session);
  // The relay's exchanges name their connection as their session: one string, escaped once.
  const connection = pg.connection === ex.session ? session : str(pg.connection);
  return (
    // id (a ULID), direction and startedAt (ISO 8601) never hold anything to escape.
    `{"v":${num(ex.v)},"id":"${ex.id}","session":${session},"parent":${parent},"direction":"${ex.direction}","service":${str(ex.service)},"protocol":"pg","startedAt":"${ex.startedAt}","durationMs":${millis3(ex.durationMs)},"tags":${tags}` +
    `,"pg":{"connection":${connection},"seq":${num(pg.seq)},"request":${request(pg.request)},"response":${response(pg.response as PgQueryResponse)}}}`
  );
}
