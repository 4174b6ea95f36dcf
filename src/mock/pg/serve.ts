/**
 * Answers from a recording: a simple Query's whole response, or an extended
 * portal's rows (as many as Execute asks for), re-encoded when the client
 * asks for another format than the one recorded.
 */
import type { PgField, PgResult, PgValue } from '../../core/exchange.js';
import type { SqlShape } from '../../protocols/pg/sql-normalizer.js';
import { binaryToText, isConvertibleType, textToBinary, type CodecContext } from '../../protocols/pg/type-codec.js';
import { applyTx, type ConnContext, type Portal } from './context.js';
import { MissError } from './error-fields.js';
import type { PgEntry } from './statement-index.js';
import type { ServeResult } from './tally.js';

/** The entry a portal of an empty statement runs: no results, no error. */
export const emptyEntry: PgEntry = {
  id: '',
  connection: '',
  seq: -1,
  request: { kind: 'extended', sql: '' },
  response: { results: [], error: null, notices: [], txStatus: 'I' },
  errorPhase: undefined,
  isUsed: false,
  shape: undefined,
  traceId: undefined,
};

/** The format code for column or parameter `i`: none given is text, one given applies to all (PostgreSQL docs, "Bind"). */
export function formatAt(formats: readonly number[], i: number): number {
  if (formats.length === 0) return 0;
  if (formats.length === 1) return formats[0] ?? 0;
  return formats[i] ?? 0;
}

export function serveSimple(c: ConnContext, shape: SqlShape, entry: PgEntry, result: ServeResult = 'matched'): void {
  c.mock.tally.count(result);
  if (result === 'matched' && shape.commands.every((cmd) => cmd === 'set' || cmd === 'reset')) c.sets.push(entry.request.sql);
  const res = entry.response;
  for (const n of res.notices) c.w.noticeResponse(n);
  for (const r of res.results) {
    const isPartial = r.command === null && res.error !== null;
    if (r.fields.length > 0) {
      c.w.rowDescription(r.fields, (i) => r.fields[i]?.format ?? 0);
      for (const row of r.rows) c.w.dataRow(row.map(cellBytes));
    }
    if (isPartial) continue;
    if (r.command === null) c.w.emptyQueryResponse();
    else c.w.commandComplete(r.command);
  }
  if (res.error !== null) c.w.errorResponse(res.error);
  applyTx(c, shape, entry);
}

/** A requested format the recording does not hold must be re-encodable, or it is a clear miss. */
export function checkFormats(c: ConnContext, p: Portal, r: PgResult): void {
  for (let i = 0; i < r.fields.length; i++) {
    const f = r.fields[i] as PgField;
    const want = formatAt(p.resultFormats, i);
    if (want !== f.format && !isConvertibleType(f.typeOid)) {
      throw c.mock.tally.miss(
        'extended',
        p.statement.sql,
        [],
        `column "${f.name}" (type oid ${f.typeOid}) was recorded in ${f.format === 0 ? 'text' : 'binary'} format and cannot be sent as ${want === 0 ? 'text' : 'binary'}`,
      );
    }
  }
}

export function executePortal(c: ConnContext, p: Portal, maxRows: number): void {
  const entry = p.entry;
  const res = entry.response;
  if (p.statement.shape.isEmpty) {
    c.w.emptyQueryResponse();
    return;
  }
  if (p.isDone) {
    // A finished portal executed again returns no rows (PostgreSQL docs, "Extended Query").
    const r0 = res.results[0];
    c.w.commandComplete(r0?.command ?? 'SELECT 0');
    return;
  }
  if (p.rowsSent === 0) for (const n of res.notices) c.w.noticeResponse(n);
  const r = res.results[0];
  if (r === undefined) {
    if (res.error !== null) {
      p.isDone = true;
      applyTx(c, p.statement.shape, entry);
      throw new MissError(res.error);
    }
    c.w.emptyQueryResponse();
    return;
  }
  checkFormats(c, p, r);
  const total = r.rows.length;
  const end = maxRows > 0 ? Math.min(total, p.rowsSent + maxRows) : total;
  const conv = converters(p, r);
  const codec = c.mock.codec;
  for (let i = p.rowsSent; i < end; i++) {
    const row = r.rows[i] as PgValue[];
    c.w.dataRow(conv === undefined ? row.map(cellBytes) : row.map((v, j) => convertCell(v, conv[j], r.fields[j] as PgField, codec)));
  }
  p.rowsSent = end;
  if (end < total || (r.suspended === true && r.command === null && res.error === null)) {
    c.w.portalSuspended();
    return;
  }
  p.isDone = true;
  applyTx(c, p.statement.shape, entry);
  if (r.command !== null) c.w.commandComplete(r.command);
  else if (res.error !== null) throw new MissError(res.error);
  else c.w.emptyQueryResponse();
  if (res.error !== null && entry.errorPhase === 'sync') c.w.errorResponse(res.error);
}

/** Per column: the format to send when it differs from the recorded one; undefined when none differ. */
function converters(p: Portal, r: PgResult): Array<number | undefined> | undefined {
  let out: Array<number | undefined> | undefined;
  for (let i = 0; i < r.fields.length; i++) {
    const want = formatAt(p.resultFormats, i);
    if (want !== (r.fields[i] as PgField).format) {
      out ??= new Array<number | undefined>(r.fields.length);
      out[i] = want;
    }
  }
  return out;
}

function cellBytes(v: PgValue): Buffer | string | null {
  if (v === null || typeof v === 'string') return v;
  return Buffer.from(v.b64, 'base64');
}

function convertCell(v: PgValue, want: number | undefined, f: PgField, ctx: CodecContext): Buffer | string | null {
  if (v === null || want === undefined) return cellBytes(v);
  if (want === 1 && typeof v === 'string') {
    const b = textToBinary(f.typeOid, v, ctx);
    if (b === undefined) throw new Error(`cannot encode ${f.name} (type oid ${f.typeOid}) as binary`);
    return b;
  }
  if (want === 0 && typeof v !== 'string') {
    const t = binaryToText(f.typeOid, Buffer.from(v.b64, 'base64'), ctx);
    if (t === undefined) throw new Error(`cannot decode ${f.name} (type oid ${f.typeOid}) to text`);
    return t;
  }
  return cellBytes(v);
}
