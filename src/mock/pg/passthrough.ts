/**
 * Passthrough: a statement no recording answers, outside a transaction block
 * the mock simulates, runs on the real server over a connection of its own
 * per client connection. What goes through is recorded as the record relay
 * records it, indexed (the next identical statement is served from it) and
 * relayed to the client.
 */
import type { BackendEvent } from '../../protocols/pg/backend-decoder.js';
import { PROTOCOL_MAJOR, PROTOCOL_MINOR, SqlState } from '../../protocols/pg/constants.js';
import type { FrontendMessage } from '../../protocols/pg/frontend-decoder.js';
import { bindMessage, describeMessage, executeMessage, parseMessage, queryMessage, syncMessage } from '../../protocols/pg/frontend-encoder.js';
import { PgRecordSession } from '../../protocols/pg/record-session.js';
import type { SqlShape } from '../../protocols/pg/sql-normalizer.js';
import { isUpstreamInTx, sendError, type ConnContext, type Statement } from './context.js';
import { shortSql } from './error-fields.js';
import { serveSimple } from './serve.js';
import type { PgEntry } from './statement-index.js';
import { PgUpstream } from './upstream.js';

/** The server connection for this client connection, opened on first use, with the SETs served so far replayed. */
async function upstreamOf(c: ConnContext): Promise<PgUpstream> {
  const { mock } = c;
  let up = c.up;
  if (up === undefined || !up.isOpen) {
    c.up = undefined;
    if (mock.target === undefined) throw new Error('no passthrough target');
    up = await PgUpstream.open({
      target: mock.target,
      parameters: c.startupParams,
      password: mock.password,
      connectTimeoutMs: mock.targetConnectTimeoutMs,
      requestTimeoutMs: mock.targetTimeoutMs,
      maxMessageBytes: mock.maxMessageBytes,
    });
    if (c.isDisposed || c.step.k === 'closed') {
      up.close();
      throw new Error('the client connection closed');
    }
    c.up = up;
    c.setsSent = 0;
    // The record session turns what goes through into pg exchanges, exactly as the record relay does.
    const session = new PgRecordSession({
      connection: c.id,
      emit: (rec) => {
        if (rec.payload.request.kind !== 'startup') c.upRecorded.push(rec);
      },
    });
    const at = Date.now();
    session.onFrontend({ type: 'startup', major: PROTOCOL_MAJOR, minor: PROTOCOL_MINOR, parameters: c.startupParams, raw: Buffer.alloc(0) }, at);
    session.onBackend({ type: 'readyForQuery', status: up.status }, at);
    c.upSession = session;
    mock.log.debug({ connection: c.id, target: mock.targetName }, 'pg mock opened a passthrough connection');
  }
  while (c.setsSent < c.sets.length) {
    const sql = c.sets[c.setsSent++] as string;
    const evs = await up.request(queryMessage(sql), 1);
    const err = evs.find((e) => e.type === 'error');
    if (err !== undefined) mock.log.debug({ sql: shortSql(sql), error: err.fields.message }, 'replaying a SET on the passthrough connection failed');
  }
  return up;
}

/** Runs one batch on the server; the exchange it makes is stored and returned. */
async function pass(c: ConnContext, msgs: FrontendMessage[], bytes: Buffer): Promise<{ entry: PgEntry | undefined; up: PgUpstream }> {
  const up = await upstreamOf(c);
  const session = c.upSession as PgRecordSession;
  const at = Date.now();
  for (const m of msgs) session.onFrontend(m, at);
  const events: BackendEvent[] = await up.request(bytes, 1);
  const done = Date.now();
  c.upRecorded = [];
  for (const ev of events) session.onBackend(ev, done);
  let entry: PgEntry | undefined;
  for (const rec of c.upRecorded) entry = c.mock.storePassthrough(rec);
  c.upRecorded = [];
  if (entry !== undefined) c.affinity = { connection: entry.connection, seq: entry.seq };
  return { entry, up };
}

/** The server could not be reached or was lost: 08006 naming it; the client connection goes on. */
function passFailed(c: ConnContext, kind: 'simple' | 'extended', sql: string, err: unknown): void {
  const { targetName } = c.mock;
  const wasInTx = isUpstreamInTx(c);
  c.up?.close();
  c.up = undefined;
  const fields = c.mock.tally.miss(kind, sql, [], `passthrough to ${targetName} failed`).fields;
  fields.code = SqlState.connectionFailure;
  fields.message = `doppel mock: cannot pass the statement through to ${targetName}: ${(err as Error).message}`;
  delete fields.detail;
  c.mock.countUpstreamFailure(err);
  c.mock.log.warn({ target: targetName, err: (err as Error).message }, 'pg passthrough failed');
  // A transaction the server held is gone with its connection.
  if (wasInTx) c.tx = 'E';
  sendError(c, fields);
}

export async function passSimple(c: ConnContext, sql: string, shape: SqlShape): Promise<void> {
  try {
    const { entry, up } = await pass(c, [{ type: 'query', sql }], queryMessage(sql));
    if (entry === undefined) throw new Error('the server answered without a result');
    serveSimple(c, shape, entry, 'passthrough');
    c.tx = up.status;
    if (shape.commands.every((cmd) => cmd === 'set' || cmd === 'reset')) {
      c.sets.push(sql);
      c.setsSent = c.sets.length;
    }
  } catch (err) {
    passFailed(c, 'simple', sql, err);
  }
}

/**
 * Bind of a statement no recording answers: the whole portal run goes to the
 * server at once (unnamed statement and portal, the client's parameter and
 * result formats, Sync), and Describe and Execute are then served from the
 * exchange it made, as from any recording.
 */
export async function passBind(c: ConnContext, st: Statement, m: Extract<FrontendMessage, { type: 'bind' }>): Promise<void> {
  const msgs: FrontendMessage[] = [
    { type: 'parse', name: '', sql: st.sql, paramTypes: st.paramTypes },
    { type: 'bind', portal: '', statement: '', paramFormats: m.paramFormats, params: m.params, resultFormats: m.resultFormats },
    { type: 'describe', target: 'P', name: '' },
    { type: 'execute', portal: '', maxRows: 0 },
    { type: 'sync' },
  ];
  const bytes = Buffer.concat([
    parseMessage('', st.sql, st.paramTypes),
    bindMessage('', '', m.paramFormats, m.params, m.resultFormats),
    describeMessage('P', ''),
    executeMessage('', 0),
    syncMessage(),
  ]);
  try {
    const { entry, up } = await pass(c, msgs, bytes);
    if (entry === undefined) throw new Error('the server answered without a result');
    c.mock.tally.count('passthrough');
    c.tx = up.status;
    if ((entry.errorPhase === 'parse' || entry.errorPhase === 'bind') && entry.response.error !== null) {
      sendError(c, entry.response.error);
      c.isSkipping = true;
      return;
    }
    c.portals.set(m.portal, { statement: st, entry, resultFormats: m.resultFormats, rowsSent: 0, isDone: false });
    c.w.bindComplete();
  } catch (err) {
    passFailed(c, 'extended', st.sql, err);
    c.isSkipping = true;
  }
}

/** Describe of a prepared statement no recording describes: asked of the server (Parse, Describe, Sync). */
export async function passDescribe(c: ConnContext, st: Statement): Promise<void> {
  const bytes = Buffer.concat([parseMessage('', st.sql, st.paramTypes), describeMessage('S', ''), syncMessage()]);
  try {
    const up = await upstreamOf(c);
    const events = await up.request(bytes, 1);
    // ParseComplete and ReadyForQuery answer the mock's own Parse and Sync: not relayed.
    for (const ev of events) {
      if (ev.type === 'parameterDescription') {
        st.paramTypes = ev.types;
        c.w.parameterDescription(ev.types);
      } else if (ev.type === 'rowDescription') {
        c.w.rowDescription(ev.fields, () => 0);
      } else if (ev.type === 'noData') {
        c.w.noData();
      } else if (ev.type === 'error') {
        sendError(c, ev.fields);
        c.isSkipping = true;
      }
    }
  } catch (err) {
    passFailed(c, 'extended', st.sql, err);
    c.isSkipping = true;
  }
}
