/**
 * Turns one client connection's two message streams into `pg` exchanges.
 * The server answers frontend messages strictly in order (PostgreSQL docs,
 * "Extended Query": responses come in message order; after an error the
 * server discards messages until Sync), so a FIFO of expected response
 * units pairs each backend message with the frontend message it answers.
 */
import type { PgErrorFields, PgField, PgQueryRequest, PgQueryResponse, PgResult, PgStartupRequest, PgStartupResponse, PgValue, TxStatus } from '../../core/exchange.js';
import { AuthCode } from './constants.js';
import type { BackendEvent } from './backend-decoder.js';
import type { FrontendMessage } from './frontend-decoder.js';
import { formatAt, toPgValue, type PendingQuery, type RecordedPortal, type RecordedPg, type RecordedStatement, type Unit } from './record-types.js';
import { txEffectOf, txStatusAfter } from './tx-status.js';

export type { RecordedPg } from './record-types.js';
export { toPgExchange } from './pg-exchange.js';

type Step = 'startup' | 'auth' | 'ready' | 'closed';

export interface RecordSessionOptions {
  connection: string;
  emit: (rec: RecordedPg) => void;
}

const AUTH_NAMES: Record<number, string> = {
  [AuthCode.CleartextPassword]: 'cleartext',
  [AuthCode.MD5Password]: 'md5',
};

export class PgRecordSession {
  readonly #connection: string;
  readonly #emit: (rec: RecordedPg) => void;
  #step: Step = 'startup';
  #seq = 0;
  readonly #units: Unit[] = [];
  #unitHead = 0;
  #isSkippingToSync = false;
  readonly #statements = new Map<string, RecordedStatement>();
  readonly #portals = new Map<string, RecordedPortal>();
  #completed: PendingQuery[] = [];
  /** status of the last ReadyForQuery: where the next batch starts */
  #txStatus: TxStatus = 'I';
  #startup: { request: PgStartupRequest; response: PgStartupResponse; startedAt: number } | undefined;

  constructor(opts: RecordSessionOptions) {
    this.#connection = opts.connection;
    this.#emit = opts.emit;
  }

  onFrontend(msg: FrontendMessage, at: number): void {
    switch (msg.type) {
      case 'sslRequest':
      case 'gssEncRequest':
      case 'cancelRequest':
      case 'password':
      case 'copyData':
      case 'copyDone':
      case 'copyFail':
      case 'flush':
        return;
      case 'startup':
        this.#startup = {
          request: { kind: 'startup', parameters: msg.parameters, protocolVersion: `${msg.major}.${msg.minor}`, auth: 'trust' },
          response: { parameterStatus: [], error: null },
          startedAt: at,
        };
        this.#step = 'auth';
        return;
      case 'terminate':
        this.close();
        return;
      case 'query':
        this.#isSkippingToSync = false;
        this.#push({
          k: 'query',
          ex: { request: { kind: 'simple', sql: msg.sql }, results: [], current: undefined, error: null, notices: [], startedAt: at },
        });
        return;
      case 'sync':
        this.#isSkippingToSync = false;
        this.#push({ k: 'sync' });
        return;
      case 'functionCall':
        this.#push({ k: 'functionCall' });
        return;
      case 'parse':
      case 'bind':
      case 'describe':
      case 'execute':
      case 'close':
        if (this.#isSkippingToSync) return;
        this.#onExtended(msg, at);
        return;
      default: {
        const never: never = msg;
        return never;
      }
    }
  }

  #onExtended(msg: Extract<FrontendMessage, { type: 'parse' | 'bind' | 'describe' | 'execute' | 'close' }>, at: number): void {
    switch (msg.type) {
      case 'parse': {
        const statement: RecordedStatement = { sql: msg.sql, declaredTypes: msg.paramTypes };
        this.#statements.set(msg.name, statement);
        this.#push({ k: 'parse', name: msg.name, statement, at });
        return;
      }
      case 'bind': {
        const statement = this.#statements.get(msg.statement) ?? { sql: '', declaredTypes: [] };
        const request: PgQueryRequest = {
          kind: 'extended',
          sql: statement.sql,
          params: recordedValues(msg.params, msg.paramFormats),
          paramTypes: statement.describedTypes ?? statement.declaredTypes,
          resultFormats: msg.resultFormats,
        };
        if (msg.statement !== '') request.statement = msg.statement;
        const portal: RecordedPortal = {
          statement,
          ex: { request, results: [], current: undefined, error: null, notices: [], startedAt: at },
        };
        this.#portals.set(msg.portal, portal);
        this.#push({ k: 'bind', portal });
        return;
      }
      case 'describe':
        this.#push({
          k: 'describe',
          target: msg.target,
          statement: msg.target === 'S' ? this.#statements.get(msg.name) : undefined,
          portal: msg.target === 'P' ? this.#portals.get(msg.name) : undefined,
        });
        return;
      case 'execute':
        this.#push({ k: 'execute', portal: this.#portals.get(msg.portal) });
        return;
      case 'close':
        if (msg.target === 'S') this.#statements.delete(msg.name);
        else this.#portals.delete(msg.name);
        this.#push({ k: 'close' });
        return;
      default: {
        const never: never = msg;
        return never;
      }
    }
  }

  #push(u: Unit): void {
    this.#units.push(u);
  }

  #head(): Unit | undefined {
    return this.#units[this.#unitHead];
  }

  #pop(): void {
    this.#unitHead++;
    // Compact now and then so the FIFO does not grow with the connection's life.
    if (this.#unitHead > 64 && this.#unitHead * 2 > this.#units.length) {
      this.#units.splice(0, this.#unitHead);
      this.#unitHead = 0;
    }
  }

  onBackend(ev: BackendEvent, at: number): void {
    switch (this.#step) {
      case 'startup':
      case 'closed':
        return;
      case 'auth':
        this.#onStartupBackend(ev, at);
        return;
      case 'ready':
        this.#onReadyBackend(ev, at);
        return;
      default: {
        const never: never = this.#step;
        return never;
      }
    }
  }

  #onStartupBackend(ev: BackendEvent, at: number): void {
    const s = this.#startup;
    if (!s) return;
    switch (ev.type) {
      case 'authentication':
        if (ev.code === AuthCode.SASL) s.request.auth = ev.mechanisms.includes('SCRAM-SHA-256') ? 'scram-sha-256' : (ev.mechanisms[0] ?? 'sasl').toLowerCase();
        else if (AUTH_NAMES[ev.code] !== undefined) s.request.auth = AUTH_NAMES[ev.code] as string;
        return;
      case 'parameterStatus':
        s.response.parameterStatus.push([ev.name, ev.value]);
        return;
      case 'backendKeyData':
        s.response.backendKey = { processId: ev.processId, secretKey: ev.secretKey };
        return;
      case 'error':
        s.response.error = ev.fields;
        this.#emitStartup(at);
        this.#step = 'closed';
        return;
      case 'readyForQuery':
        s.response.txStatus = ev.status;
        this.#txStatus = ev.status;
        this.#emitStartup(at);
        this.#step = 'ready';
        return;
      case 'bindComplete':
      case 'closeComplete':
      case 'commandComplete':
      case 'copyData':
      case 'copyDone':
      case 'copyResponse':
      case 'dataRow':
      case 'emptyQuery':
      case 'noData':
      case 'notice':
      case 'other':
      case 'parameterDescription':
      case 'parseComplete':
      case 'portalSuspended':
      case 'rowDescription':
        return;
      default: {
        const never: never = ev;
        return never;
      }
    }
  }

  #emitStartup(at: number): void {
    const s = this.#startup;
    if (!s) return;
    this.#emit({
      payload: { connection: this.#connection, seq: this.#seq++, request: s.request, response: s.response },
      startedAt: s.startedAt,
      durationMs: at - s.startedAt,
      tags: {},
    });
    this.#startup = undefined;
  }

  #onReadyBackend(ev: BackendEvent, at: number): void {
    const u = this.#head();
    switch (ev.type) {
      case 'dataRow': {
        if (u?.k === 'query') {
          const r = u.ex.current;
          if (r !== undefined) r.rows.push(recordedCells(ev.cells, r.fields));
        } else if (u?.k === 'execute' && u.portal) {
          const formats = u.portal.ex.request.resultFormats ?? [];
          this.#executeResult(u.portal).rows.push(recordedValues(ev.cells, formats));
        }
        return;
      }
      case 'rowDescription':
        if (u?.k === 'query') {
          u.ex.current = { fields: ev.fields, rows: [], command: null };
        } else if (u?.k === 'describe') {
          if (u.statement) u.statement.fields = ev.fields;
          if (u.portal) u.portal.ex.fields = ev.fields;
          this.#pop();
        }
        return;
      case 'noData':
        if (u?.k === 'describe') {
          if (u.statement) u.statement.fields = [];
          if (u.portal) u.portal.ex.fields = [];
          this.#pop();
        }
        return;
      case 'parameterDescription':
        if (u?.k === 'describe' && u.statement) u.statement.describedTypes = ev.types;
        return;
      case 'commandComplete':
      case 'emptyQuery': {
        const tag = ev.type === 'commandComplete' ? ev.tag : null;
        if (u?.k === 'query') {
          const r = u.ex.current ?? { fields: [], rows: [], command: null };
          r.command = tag;
          u.ex.results.push(r);
          u.ex.current = undefined;
        } else if (u?.k === 'execute') {
          if (u.portal) {
            const r = this.#executeResult(u.portal);
            r.command = tag;
            delete r.suspended;
          }
          this.#pop();
        }
        return;
      }
      case 'portalSuspended':
        if (u?.k === 'execute') {
          if (u.portal) this.#executeResult(u.portal).suspended = true;
          this.#pop();
        }
        return;
      case 'parseComplete':
      case 'bindComplete':
      case 'closeComplete':
        if (u?.k === 'parse' || u?.k === 'bind' || u?.k === 'close') this.#pop();
        return;
      case 'notice':
        this.#currentExchange(u)?.notices.push(ev.fields);
        return;
      case 'error':
        this.#onError(u, ev.fields);
        return;
      case 'readyForQuery':
        this.#onReady(u, ev.status, at);
        return;
      case 'other':
        if (u?.k === 'functionCall') this.#pop();
        return;
      case 'parameterStatus':
      case 'backendKeyData':
      case 'authentication':
      case 'copyResponse':
      case 'copyData':
      case 'copyDone':
        return;
      default: {
        const never: never = ev;
        return never;
      }
    }
  }

  #fieldFormat(portal: RecordedPortal, i: number): number {
    return formatAt(portal.ex.request.resultFormats ?? [], i);
  }

  /** The result an Execute adds rows to; consecutive Executes of one portal extend it. */
  #executeResult(portal: RecordedPortal): PgResult {
    const ex = portal.ex;
    let r = ex.results[0];
    if (r === undefined) {
      const base = ex.fields ?? portal.statement.fields?.map((f, i) => ({ ...f, format: this.#fieldFormat(portal, i) }));
      r = { fields: base ?? [], rows: [], command: null };
      ex.results.push(r);
      this.#completed.push(ex);
    }
    return r;
  }

  #currentExchange(u: Unit | undefined): PendingQuery | undefined {
    if (u?.k === 'query') return u.ex;
    if (u?.k === 'bind' || (u?.k === 'execute' && u.portal)) return u.portal?.ex;
    return this.#completed[this.#completed.length - 1];
  }

  #onError(u: Unit | undefined, fields: PgErrorFields): void {
    if (u === undefined) return;
    switch (u.k) {
      case 'query':
        u.ex.error = fields;
        u.ex.current = undefined;
        return;
      case 'sync': {
        // An error at Sync (e.g. a deferred constraint at implicit commit) belongs to the last statement.
        const last = this.#completed[this.#completed.length - 1];
        if (last && last.error === null) {
          last.error = fields;
          last.errorPhase = 'sync';
        }
        return;
      }
      case 'functionCall':
        this.#pop();
        return;
      case 'parse': {
        const ex: PendingQuery = {
          request: { kind: 'extended', sql: u.statement.sql, params: [], paramTypes: u.statement.declaredTypes },
          results: [],
          current: undefined,
          error: fields,
          notices: [],
          startedAt: u.at,
          errorPhase: 'parse',
        };
        if (u.name !== '') ex.request.statement = u.name;
        this.#completed.push(ex);
        break;
      }
      case 'bind':
      case 'describe':
      case 'execute': {
        const portal = u.k === 'describe' ? u.portal : u.portal;
        if (portal) {
          portal.ex.error = fields;
          portal.ex.errorPhase = u.k;
          if (!this.#completed.includes(portal.ex)) this.#completed.push(portal.ex);
        }
        break;
      }
      case 'close':
        break;
      default: {
        const never: never = u;
        return never;
      }
    }
    // The server now discards every message up to the next Sync.
    while (this.#head() !== undefined && this.#head()?.k !== 'sync') this.#pop();
    if (this.#head() === undefined) this.#isSkippingToSync = true;
  }

  #onReady(u: Unit | undefined, status: TxStatus, at: number): void {
    if (u?.k === 'query') {
      this.#pop();
      this.#txStatus = status;
      this.#finish(u.ex, status, at);
      return;
    }
    if (u?.k === 'sync') this.#pop();
    const done = this.#completed;
    this.#completed = [];
    // One ReadyForQuery answers the whole batch: it is the last statement's
    // status; the ones before it get the status they left (see tx-status.ts).
    let tx = this.#txStatus;
    for (let i = 0; i < done.length; i++) {
      const ex = done[i] as PendingQuery;
      tx = i === done.length - 1 ? status : txStatusAfter(tx, txEffectOf(ex.request.sql), ex.error?.code);
      this.#finish(ex, tx, at);
    }
    this.#txStatus = status;
  }

  #finish(ex: PendingQuery, txStatus: TxStatus, at: number): void {
    const response: PgQueryResponse = { results: ex.results, error: ex.error, notices: ex.notices, txStatus };
    const tags: Record<string, string> = {};
    if (ex.errorPhase !== undefined) tags.pgErrorPhase = ex.errorPhase;
    this.#emit({
      payload: { connection: this.#connection, seq: this.#seq++, request: ex.request, response },
      startedAt: ex.startedAt,
      durationMs: Math.max(0, at - ex.startedAt),
      tags,
    });
  }

  /** The connection ended: a startup that never completed is still recorded. */
  close(): void {
    if (this.#step === 'auth' && this.#startup) this.#emitStartup(this.#startup.startedAt);
    this.#step = 'closed';
  }
}

/** Wire values as recorded, each in the format its position names (a loop: a closure per row showed in profiles). */
function recordedValues(values: ReadonlyArray<Buffer | null>, formats: readonly number[]): PgValue[] {
  const out = new Array<PgValue>(values.length);
  for (let i = 0; i < values.length; i++) out[i] = toPgValue(values[i] ?? null, formatAt(formats, i));
  return out;
}

/** A simple query's row: each cell in its column's format. */
function recordedCells(cells: ReadonlyArray<Buffer | null>, fields: readonly PgField[]): PgValue[] {
  const out = new Array<PgValue>(cells.length);
  for (let i = 0; i < cells.length; i++) out[i] = toPgValue(cells[i] ?? null, fields[i]?.format ?? 0);
  return out;
}
