/**
 * Statements of a ready connection: a simple Query, and the extended
 * protocol's Parse, Bind, Describe, Execute and Close. Each is answered from
 * the index, refused as the server would refuse it, or handed to passthrough
 * when a target is set and no recording answers it.
 */
import type { PgErrorFields } from '../../core/exchange.js';
import { SqlState } from '../../protocols/pg/constants.js';
import type { FrontendMessage } from '../../protocols/pg/frontend-decoder.js';
import { traceIdOfSql } from '../../protocols/pg/sqlcommenter.js';
import type { SqlShape } from '../../protocols/pg/sql-normalizer.js';
import { isUpstreamInTx, sendError, type ConnContext } from './context.js';
import { MissError, error, inFailedTxError } from './error-fields.js';
import { passBind, passDescribe, passSimple } from './passthrough.js';
import { checkFormats, emptyEntry, executePortal, formatAt, serveSimple } from './serve.js';
import { paramKey, type PgEntry } from './statement-index.js';
import { isRefusedInFailedTx } from './tx.js';

type ExtendedMessage = Extract<FrontendMessage, { type: 'parse' | 'bind' | 'describe' | 'execute' | 'close' }>;

function copyUnsupported(): PgErrorFields {
  return error(SqlState.featureNotSupported, 'doppel mock: COPY is not supported in mock');
}

function take(c: ConnContext, sql: string, params: string[]): PgEntry | undefined {
  const traceId = traceIdOfSql(sql);
  const e = c.mock.index.take(sql, params, c.affinity, traceId);
  if (e) c.affinity = { connection: e.connection, seq: e.seq };
  c.mock.live.observeCandidate(sql, traceId, e);
  return e;
}

/** The caller sends the one 25P02 the server sends (postgres.c refuses Parse, Bind and a simple Query alike). */
function isBlockedByFailedTx(c: ConnContext, shape: SqlShape): boolean {
  return c.tx === 'E' && isRefusedInFailedTx(shape);
}

/**
 * Why a miss is not passed through: inside a transaction block the mock
 * simulates from recordings, the server would run the statement in its own
 * autocommit transaction, and a ROLLBACK served from the recording could not
 * undo it.
 */
function missReason(c: ConnContext): string | undefined {
  if (c.mock.target === undefined || c.tx === 'I') return undefined;
  return `no recording for statement inside a transaction block (passthrough to ${c.mock.targetName} runs only outside one)`;
}

export function simpleQuery(c: ConnContext, sql: string): void {
  const { index, tally } = c.mock;
  if (isUpstreamInTx(c)) {
    // The server holds this connection's transaction: everything in it runs there.
    c.pending = passSimple(c, sql, index.analyze(sql));
    return;
  }
  if (c.tx !== 'E') {
    // Fast path: the exact recorded text needs no SQL scan.
    const traceId = traceIdOfSql(sql);
    const hit = index.takeRaw(sql, [], c.affinity, traceId);
    if (hit?.shape !== undefined) {
      c.affinity = { connection: hit.connection, seq: hit.seq };
      c.mock.live.observeCandidate(sql, traceId, hit);
      serveSimple(c, hit.shape, hit);
      return;
    }
  }
  const shape = index.analyze(sql);
  if (shape.isEmpty) {
    c.w.emptyQueryResponse();
    return;
  }
  if (isBlockedByFailedTx(c, shape)) {
    c.w.errorResponse(inFailedTxError());
    return;
  }
  if (shape.commands.includes('copy')) {
    tally.count('unmatched');
    sendError(c, copyUnsupported());
    return;
  }
  const entry = take(c, sql, []);
  if (entry === undefined) {
    if (c.mock.target !== undefined && c.tx === 'I') {
      c.pending = passSimple(c, sql, shape);
      return;
    }
    sendError(c, tally.miss('simple', sql, [], missReason(c)).fields);
    return;
  }
  serveSimple(c, shape, entry);
}

/** One extended-protocol message; a MissError thrown here goes to the client and starts skipping to Sync. */
export function extendedMessage(c: ConnContext, m: ExtendedMessage): void {
  switch (m.type) {
    case 'parse':
      onParse(c, m);
      return;
    case 'bind':
      onBind(c, m);
      return;
    case 'describe':
      onDescribe(c, m);
      return;
    case 'execute': {
      const p = c.portals.get(m.portal);
      if (p === undefined) throw new MissError(error(SqlState.undefinedCursor, `portal "${m.portal}" does not exist`));
      executePortal(c, p, m.maxRows);
      return;
    }
    case 'close':
      if (m.target === 'S') c.statements.delete(m.name);
      else c.portals.delete(m.name);
      c.w.closeComplete();
      return;
    default: {
      const never: never = m;
      return never;
    }
  }
}

function onParse(c: ConnContext, m: Extract<FrontendMessage, { type: 'parse' }>): void {
  if (m.name !== '' && c.statements.has(m.name)) {
    throw new MissError(error(SqlState.duplicatePreparedStatement, `prepared statement "${m.name}" already exists`));
  }
  const info = c.mock.parsed(m.sql);
  const shape = info.shape;
  if (isBlockedByFailedTx(c, shape)) throw new MissError(inFailedTxError());
  const pe = info.parseError;
  if (pe?.response.error) {
    c.mock.tally.count('matched');
    throw new MissError(pe.response.error);
  }
  if (info.isCopy) {
    c.mock.tally.count('unmatched');
    throw new MissError(copyUnsupported());
  }
  const described = info.described;
  const paramTypes = m.paramTypes.length > 0 && m.paramTypes.every((t) => t !== 0) ? m.paramTypes : (described?.paramTypes ?? m.paramTypes);
  c.statements.set(m.name, { sql: m.sql, shape, paramTypes });
  c.w.parseComplete();
}

function onBind(c: ConnContext, m: Extract<FrontendMessage, { type: 'bind' }>): void {
  const st = c.statements.get(m.statement);
  if (st === undefined) {
    throw new MissError(
      error(
        SqlState.undefinedPreparedStatement,
        m.statement === '' ? 'unnamed prepared statement does not exist' : `prepared statement "${m.statement}" does not exist`,
      ),
    );
  }
  if (isBlockedByFailedTx(c, st.shape)) throw new MissError(inFailedTxError());
  const params = m.params.map((p, i) => paramKey(p, formatAt(m.paramFormats, i), st.paramTypes[i]));
  if (st.shape.isEmpty) {
    c.mock.tally.count('matched');
    c.portals.set(m.portal, { statement: st, entry: emptyEntry, resultFormats: m.resultFormats, rowsSent: 0, isDone: false });
    c.w.bindComplete();
    return;
  }
  const entry = isUpstreamInTx(c) ? undefined : take(c, st.sql, params);
  if (entry === undefined) {
    if (c.mock.target !== undefined && (c.tx === 'I' || isUpstreamInTx(c))) {
      c.pending = passBind(c, st, m);
      return;
    }
    throw c.mock.tally.miss('extended', st.sql, params, missReason(c));
  }
  c.mock.tally.count('matched');
  if (entry.errorPhase === 'bind' && entry.response.error) throw new MissError(entry.response.error);
  c.portals.set(m.portal, { statement: st, entry, resultFormats: m.resultFormats, rowsSent: 0, isDone: false });
  c.w.bindComplete();
}

function onDescribe(c: ConnContext, m: Extract<FrontendMessage, { type: 'describe' }>): void {
  if (m.target === 'S') {
    const st = c.statements.get(m.name);
    if (st === undefined) {
      throw new MissError(error(SqlState.undefinedPreparedStatement, `prepared statement "${m.name}" does not exist`));
    }
    const info = st.shape.isEmpty ? { paramTypes: [], fields: [], hasFields: true } : c.mock.index.describeStatement(st.sql);
    if (info === undefined && c.mock.target !== undefined) {
      // Describing runs nothing, so it may go to the server inside a simulated transaction too.
      c.pending = passDescribe(c, st);
      return;
    }
    if (info === undefined) throw c.mock.tally.miss('extended', st.sql, [], 'no recording describes statement');
    const types = [...info.paramTypes];
    for (let i = types.length; i < Math.max(st.shape.paramCount, st.paramTypes.length); i++) types.push(st.paramTypes[i] ?? 0);
    c.w.parameterDescription(types);
    if (info.fields.length > 0) c.w.rowDescription(info.fields, () => 0);
    else c.w.noData();
    return;
  }
  const p = c.portals.get(m.name);
  if (p === undefined) throw new MissError(error(SqlState.undefinedCursor, `portal "${m.name}" does not exist`));
  const r = p.entry.response.results[0];
  if (r !== undefined && r.fields.length > 0) {
    checkFormats(c, p, r);
    c.w.rowDescription(r.fields, (i) => formatAt(p.resultFormats, i));
  } else {
    c.w.noData();
  }
}
