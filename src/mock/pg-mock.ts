/**
 * Postgres mock: a wire-protocol server that answers real clients (psql,
 * pgbench, node-postgres, postgres.js) from recorded `pg` exchanges.
 *
 * One connection is an explicit state machine (startup -> auth -> ready ->
 * closed) over the frontend decoder. Replies to everything decoded from one
 * TCP chunk go out in one write. Bad input gets what the real server gives:
 * a silent close for framing it cannot read, ErrorResponse then close for a
 * message it refuses (PostgreSQL docs, "Message Flow"; postmaster.c and
 * postgres.c behaviour), and nothing else is affected.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { LRUCache } from 'lru-cache';
import { TLSSocket, createSecureContext, type SecureContext } from 'node:tls';
import type { HostPort } from '../core/address.js';
import type { Exchange, PgErrorFields, PgExchange, PgField, PgResult, PgValue, TxStatus } from '../core/exchange.js';
import { DoppelError } from '../core/errors.js';
import { newExchangeId } from '../core/ids.js';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { ExchangeReader, ExchangeWriter } from '../store/types.js';
import type { BackendEvent } from '../protocols/pg/backend-decoder.js';
import { listenOn } from '../core/listen.js';
import { BackendWriter } from '../protocols/pg/backend-encoder.js';
import { AuthCode, DEFAULT_MAX_MESSAGE_BYTES, PROTOCOL_MAJOR, PROTOCOL_MINOR, SqlState } from '../protocols/pg/constants.js';
import { FrontendDecoder, type FrontendEvent, type FrontendMessage } from '../protocols/pg/frontend-decoder.js';
import { bindMessage, describeMessage, executeMessage, parseMessage, queryMessage, syncMessage } from '../protocols/pg/frontend-encoder.js';
import { PgRecordSession, toPgExchange, type RecordedPg } from '../protocols/pg/record-session.js';
import { createSqlAnalyzer, loadSqlParser, type SqlShape } from '../protocols/pg/sql-normalizer.js';
import { binaryToText, isConvertibleType, textToBinary, type CodecContext } from '../protocols/pg/type-codec.js';
import { checkPgMockConfig, parsePgParamRules } from './pg-mock-config.js';
import { createScramServer, isMd5PasswordValid, type ScramServer } from './pg-auth.js';
import { PgIndex, paramKey, type Affinity, type PgEntry, type NearestRecorded, type StatementInfo } from './pg-index.js';
import { PgUpstream } from './pg-upstream.js';
import { isRefusedInFailedTx, txStatusAfterServed } from './pg-tx.js';
import { traceIdOfSql } from '../protocols/pg/sqlcommenter.js';

export interface PgMockTls {
  cert: string | Buffer;
  key: string | Buffer;
}

export interface PgMockOptions {
  /** dependency name: recordings of this service are served, and it labels metrics */
  service: string;
  listen: { host: string; port: number };
  /** the flag or config key that moves this listener, named if its address cannot be bound */
  listenFlag?: string | undefined;
  /** recordings to serve: a reader (streamed in at start) or exchanges already in memory */
  reader?: ExchangeReader;
  exchanges?: Iterable<Exchange>;
  log: Logger;
  metrics: Metrics;
  auth?: 'trust' | 'md5' | 'scram-sha-256';
  /** when set, only this user name is accepted */
  user?: string;
  password?: string;
  tls?: PgMockTls;
  maxMessageBytes?: number;
  /** how many unmatched statements are kept for GET /api/unmatched */
  maxUnmatched?: number;
  /**
   * Parameters not matched, by position: `$2`, `param:2` or `pg:$2` (the
   * form `compare.ignore` uses; see pgRulesOf). Values of one value class
   * (uuid, timestamp, ...) match each other without a rule.
   */
  ignoreParams?: readonly string[];
  /**
   * The real server: a statement no recording answers is run there (outside
   * a transaction block the mock simulates), relayed to the client, recorded
   * and served from the index the next time.
   */
  target?: HostPort;
  /** where passthrough exchanges are written */
  recordTo?: ExchangeWriter;
  /** connect and authenticate to the target within this time (default 10 s) */
  targetConnectTimeoutMs?: number;
  /** bounds on exchanges fed at run time with `addExchange` (live mocks of `doppel shadow`) */
  live?: PgLiveWindow;
}

/** A live feed keeps its newest exchanges only: memory stays bounded whatever the primary's rate. */
export interface PgLiveWindow {
  /** exchanges older than this are forgotten */
  windowMs: number;
  /** at most this many fed exchanges are kept (oldest forgotten first) */
  maxExchanges: number;
  now?: () => number;
  /** a fed exchange was forgotten before any client used it */
  onUnusedDropped?: () => void;
  /**
   * Each statement that carries a sqlcommenter traceparent: the primary's as it
   * is fed, the candidate's as it is answered (or missed). The shadow's
   * outbound diff counts them per inbound request.
   */
  onTracedStatement?: (s: PgTracedStatement) => void;
}

export interface PgTracedStatement {
  side: 'primary' | 'candidate';
  traceId: string;
  /** lower-cased first keyword: select, insert, ... */
  command: string;
  /** canonical statement text (literals as ?, no comments) */
  shape: string;
  /** candidate side: answered from a recording */
  isMatched: boolean;
}

/** Same shape as the admin API's UnmatchedCall. */
export interface PgUnmatchedCall {
  service: string;
  protocol: 'pg';
  at: string;
  request: { sql: string; params: string[]; kind: 'simple' | 'extended' };
  nearest?: Record<string, unknown> | undefined;
}

export interface PgMock {
  readonly address: AddressInfo;
  /** statements answered from recordings and not */
  stats(): { matched: number; unmatched: number; passthrough: number; recordings: number; connections: number };
  unmatched(): PgUnmatchedCall[];
  /** forget which recordings were used */
  reset(): void;
  /**
   * Serves one more exchange from now on, e.g. the primary's call recorded a
   * moment ago. Fed exchanges are kept within `live` (window and count).
   */
  addExchange(ex: PgExchange): void;
  close(): Promise<void>;
}

const DEFAULT_PARAMETER_STATUS: Array<[string, string]> = [
  ['application_name', ''],
  ['client_encoding', 'UTF8'],
  ['DateStyle', 'ISO, MDY'],
  ['default_transaction_read_only', 'off'],
  ['in_hot_standby', 'off'],
  ['integer_datetimes', 'on'],
  ['IntervalStyle', 'postgres'],
  ['is_superuser', 'on'],
  ['server_encoding', 'UTF8'],
  ['server_version', '15.0'],
  ['session_authorization', 'postgres'],
  ['standard_conforming_strings', 'on'],
  ['TimeZone', 'UTC'],
];

interface ParsedSql {
  shape: SqlShape;
  parseError: PgEntry | undefined;
  isCopy: boolean;
  described: StatementInfo | undefined;
}

interface Statement {
  sql: string;
  shape: SqlShape;
  paramTypes: number[];
}

interface Portal {
  statement: Statement;
  entry: PgEntry;
  resultFormats: number[];
  rowsSent: number;
  isDone: boolean;
}

type Step =
  | { k: 'startup' }
  | { k: 'md5'; salt: Buffer }
  | { k: 'scramFirst'; scram: ScramServer }
  | { k: 'scramFinal'; scram: ScramServer }
  | { k: 'ready' }
  | { k: 'closed' };

class MissError extends Error {
  readonly fields: PgErrorFields;
  constructor(fields: PgErrorFields) {
    super(fields.message);
    this.fields = fields;
  }
}

function formatAt(formats: readonly number[], i: number): number {
  if (formats.length === 0) return 0;
  if (formats.length === 1) return formats[0] ?? 0;
  return formats[i] ?? 0;
}

function fatal(code: string, message: string): PgErrorFields {
  return { severity: 'FATAL', code, message };
}

function error(code: string, message: string, extra: Partial<PgErrorFields> = {}): PgErrorFields {
  return { severity: 'ERROR', code, message, ...extra };
}

function shortSql(sql: string): string {
  const s = sql.replace(/\s+/g, ' ').trim();
  return s.length > 200 ? `${s.slice(0, 200)}...` : s;
}

export async function createPgMock(opts: PgMockOptions): Promise<PgMock> {
  const log = opts.log.child({ component: 'pg-mock', service: opts.service });
  const rules = parsePgParamRules(opts.ignoreParams ?? []);
  const problems = [
    ...checkPgMockConfig({ auth: opts.auth ?? 'trust', ...(opts.password === undefined ? {} : { password: opts.password }) }),
    ...rules.problems,
  ];
  if (problems.length > 0) {
    throw new DoppelError('DOPPEL_CONFIG_INVALID', `pg mock ${opts.service}: invalid configuration`, { details: problems });
  }
  await loadSqlParser();
  const index = new PgIndex(createSqlAnalyzer(), rules.positions);
  const sources: Array<Iterable<Exchange> | AsyncIterable<Exchange>> = [];
  if (opts.exchanges) sources.push(opts.exchanges);
  if (opts.reader) sources.push(opts.reader.read({ onCorrupt: () => opts.metrics.storeCorruptLines.inc() }));
  const others: PgExchange[] = [];
  for (const src of sources) {
    for await (const ex of src) {
      if (ex.protocol !== 'pg') continue;
      if (ex.service === opts.service) index.add(ex);
      else others.push(ex);
    }
  }
  if (index.size === 0 && others.length > 0) {
    // A traffic directory recorded under another dependency name still serves.
    log.warn({ recorded: [...new Set(others.map((e) => e.service))] }, 'no pg recordings for this service name; serving every pg recording');
    for (const ex of others) index.add(ex);
  }
  others.length = 0;
  log.info({ recordings: index.size }, 'pg recordings loaded');

  const auth = opts.auth ?? 'trust';
  const maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const maxUnmatched = opts.maxUnmatched ?? 1000;
  const secure: SecureContext | undefined = opts.tls ? createSecureContext({ cert: opts.tls.cert, key: opts.tls.key }) : undefined;
  const unmatchedCalls: PgUnmatchedCall[] = [];
  let matched = 0;
  let unmatchedCount = 0;
  let passthroughCount = 0;
  const sockets = new Set<Socket>();

  const recordedStatus = index.startup?.parameterStatus ?? DEFAULT_PARAMETER_STATUS;
  const baseStatus = new Map<string, string>(DEFAULT_PARAMETER_STATUS);
  for (const [k, v] of recordedStatus) baseStatus.set(k, v);
  // Strict drivers refuse anything else (postgres.js and pgjdbc check these).
  baseStatus.set('client_encoding', 'UTF8');
  if (!/^ISO/i.test(baseStatus.get('DateStyle') ?? '')) baseStatus.set('DateStyle', 'ISO, MDY');
  baseStatus.set('integer_datetimes', 'on');
  baseStatus.set('standard_conforming_strings', 'on');
  const codecCtx: CodecContext = { timeZone: baseStatus.get('TimeZone') ?? 'UTC' };

  // Parse of one SQL text (sent again for every statement by unnamed-statement
  // clients) costs one lookup instead of three scans of the text.
  const parsedCache = new LRUCache<string, ParsedSql>({ max: 10_000 });
  function parsed(sql: string): ParsedSql {
    let p = parsedCache.get(sql);
    if (p === undefined) {
      const shape = index.analyze(sql);
      p = { shape, parseError: index.parseError(sql), isCopy: shape.commands.includes('copy'), described: index.describeStatement(sql) };
      parsedCache.set(sql, p);
    }
    return p;
  }

  const counted = (result: 'matched' | 'unmatched' | 'passthrough') => {
    opts.metrics.mockRequests.inc({ service: opts.service, protocol: 'pg', result });
    if (result === 'matched') matched++;
    else if (result === 'passthrough') passthroughCount++;
    else unmatchedCount++;
  };

  const target = opts.target;
  const targetName = target === undefined ? '' : `${target.host}:${target.port}`;
  const runTag = newExchangeId().slice(-6).toLowerCase();
  let connCounter = 0;
  const appends = new Set<Promise<void>>();

  /** Indexes a passthrough exchange (the next identical statement is served from it) and writes it. */
  function storePassthrough(rec: RecordedPg): PgEntry {
    // The tag the HTTP mock gives its passthrough exchanges too.
    const ex = toPgExchange(rec, opts.service, { ...rec.tags, source: 'mock-passthrough' });
    const entry = index.add(ex) as PgEntry;
    const writer = opts.recordTo;
    if (writer !== undefined) {
      const p = writer.append(ex).then(
        () => opts.metrics.exchangesRecorded.inc({ service: opts.service, direction: 'outbound', protocol: 'pg' }),
        (err: unknown) => {
          opts.metrics.recordDropped.inc({ reason: 'store_error' });
          log.error({ err }, 'cannot record a pg passthrough exchange');
        },
      );
      appends.add(p);
      void p.finally(() => appends.delete(p));
    }
    return entry;
  }

  // Fed exchanges in arrival order, from `head` on; the consumed prefix is cut off in batches.
  const live = opts.live;
  const liveNow = live?.now ?? Date.now;
  const fed: Array<{ entry: PgEntry; at: number }> = [];
  let fedHead = 0;
  function evictFed(): void {
    if (live === undefined) return;
    const cutoff = liveNow() - live.windowMs;
    while (fedHead < fed.length) {
      const f = fed[fedHead] as { entry: PgEntry; at: number };
      if (fed.length - fedHead <= live.maxExchanges && f.at >= cutoff) break;
      fedHead++;
      index.remove(f.entry);
      if (!f.entry.isUsed) live.onUnusedDropped?.();
    }
    if (fedHead > 1024 && fedHead * 2 > fed.length) {
      fed.splice(0, fedHead);
      fedHead = 0;
    }
  }
  // Time alone must also forget: without new traffic nothing else would.
  const evictTimer = live === undefined ? undefined : setInterval(evictFed, Math.max(100, Math.min(1000, live.windowMs / 4)));
  evictTimer?.unref();
  function addExchange(ex: PgExchange): void {
    const entry = index.add(ex);
    if (entry !== undefined && live !== undefined) {
      fed.push({ entry, at: liveNow() });
      evictFed();
      if (entry.traceId !== undefined && entry.shape !== undefined) {
        live.onTracedStatement?.({ side: 'primary', traceId: entry.traceId, command: entry.shape.commands[0] ?? '', shape: entry.shape.shape, isMatched: true });
      }
    }
  }

  /** Reports a candidate statement that carries a trace to the live feed's listener. */
  function observeCandidate(sql: string, traceId: string | undefined, entry: PgEntry | undefined): void {
    const listener = live?.onTracedStatement;
    if (traceId === undefined || listener === undefined) return;
    const shape = entry?.shape ?? index.analyze(sql);
    listener({ side: 'candidate', traceId, command: shape.commands[0] ?? '', shape: shape.shape, isMatched: entry !== undefined });
  }

  function miss(kind: 'simple' | 'extended', sql: string, params: string[], why?: string): MissError {
    counted('unmatched');
    const nearest: NearestRecorded | undefined = why === undefined ? index.nearest(sql, params) : undefined;
    const call: PgUnmatchedCall = {
      service: opts.service,
      protocol: 'pg',
      at: new Date().toISOString(),
      request: { sql, params, kind },
      nearest: nearest ? { sql: nearest.sql, differs: nearest.differs, recordedValues: nearest.recordedValues } : undefined,
    };
    if (unmatchedCalls.length >= maxUnmatched) unmatchedCalls.shift();
    unmatchedCalls.push(call);
    let message = `doppel mock: no recording for statement: ${shortSql(sql)}`;
    if (why !== undefined) message = `doppel mock: ${why}: ${shortSql(sql)}`;
    const fields = error(SqlState.mockUnmatched, message);
    if (nearest) {
      fields.detail = `nearest recorded statement: ${shortSql(nearest.sql)} (differs in ${nearest.differs})`;
    } else if (why === undefined) {
      fields.detail = 'no recorded statement is like it';
    }
    fields.hint = 'record this statement through doppel record, or check the traffic directory given to doppel mock';
    log.debug({ sql: shortSql(sql), nearest: nearest?.sql }, 'pg statement unmatched');
    return new MissError(fields);
  }

  function onConnection(raw: Socket): void {
    sockets.add(raw);
    raw.setNoDelay(true);
    raw.on('close', () => sockets.delete(raw));
    raw.on('error', (err) => log.debug({ err }, 'pg mock client socket error'));
    const conn = new MockConnection(raw);
    conn.attach(raw);
    raw.on('close', () => conn.dispose());
  }

  class MockConnection {
    #sock: Socket;
    #step: Step = { k: 'startup' };
    readonly #decoder = new FrontendDecoder({ maxMessageBytes });
    readonly #w = new BackendWriter();
    #tx: TxStatus = 'I';
    #isSkipping = false;
    #isTls = false;
    #user = '';
    readonly #statements = new Map<string, Statement>();
    readonly #portals = new Map<string, Portal>();
    #affinity: Affinity | undefined;
    readonly #onData = (chunk: Buffer) => this.#receive(chunk);
    /** a passthrough in flight: later messages wait in the decoder, so answers keep their order */
    #pending: Promise<void> | undefined;
    readonly #id = `m-${runTag}-${++connCounter}`;
    #startupParams: Record<string, string> = {};
    #up: PgUpstream | undefined;
    #upSession: PgRecordSession | undefined;
    #upRecorded: RecordedPg[] = [];
    /** SET statements served from recordings, replayed on the server before a passthrough */
    readonly #sets: string[] = [];
    #setsSent = 0;
    #isDisposed = false;

    constructor(sock: Socket) {
      this.#sock = sock;
    }

    dispose(): void {
      this.#isDisposed = true;
      this.#up?.close();
      this.#up = undefined;
    }

    attach(sock: Socket): void {
      this.#sock = sock;
      sock.on('data', this.#onData);
      sock.on('drain', () => sock.resume());
    }

    #receive(chunk: Buffer): void {
      this.#decoder.push(chunk);
      if (this.#pending === undefined) this.#pump();
    }

    #pump(): void {
      try {
        for (let ev = this.#decoder.next(); ev !== undefined; ev = this.#decoder.next()) {
          this.#handle(ev);
          if (this.#step.k === 'closed') break;
          if (this.#pending !== undefined) {
            this.#flush();
            this.#sock.pause();
            this.#pending.then(
              () => this.#resume(),
              (err: unknown) => this.#internalError(err),
            );
            return;
          }
        }
      } catch (err) {
        this.#internalError(err);
        return;
      }
      this.#flush();
    }

    #resume(): void {
      this.#pending = undefined;
      if (this.#step.k === 'closed') return;
      this.#sock.resume();
      this.#pump();
    }

    #internalError(err: unknown): void {
      log.error({ err }, 'pg mock connection failed');
      this.#w.errorResponse(fatal('XX000', `doppel mock internal error: ${(err as Error).message}`));
      this.#close(true);
    }

    #flush(): void {
      if (this.#w.length === 0 || this.#sock.destroyed) return;
      if (!this.#sock.write(this.#w.take())) this.#sock.pause();
    }

    /** Ends the connection; with `isReply`, the pending replies (an ErrorResponse) go out first. */
    #close(isReply: boolean): void {
      this.#step = { k: 'closed' };
      this.#sock.off('data', this.#onData);
      if (isReply && this.#w.length > 0) this.#sock.end(this.#w.take());
      else this.#sock.destroy();
    }

    #handle(ev: FrontendEvent): void {
      if (ev.type === 'decodeError') {
        switch (ev.kind) {
          case 'startupLength':
          case 'messageLength':
          case 'messageTooLong':
            // postmaster.c / pq_getmessage log these and close without a reply.
            log.warn({ reason: ev.message }, 'pg mock closed a connection on bad framing');
            this.#close(false);
            return;
          case 'unknownType':
            log.warn({ reason: ev.message }, 'pg mock closed a connection on an unknown message type');
            this.#w.errorResponse(fatal(SqlState.protocolViolation, ev.message));
            this.#close(true);
            return;
          case 'malformed':
            this.#w.errorResponse(fatal(SqlState.protocolViolation, ev.message));
            this.#close(true);
            return;
          default: {
            const never: never = ev.kind;
            return never;
          }
        }
      }
      const step = this.#step;
      switch (step.k) {
        case 'startup':
          this.#onStartup(ev);
          return;
        case 'md5':
        case 'scramFirst':
        case 'scramFinal':
          this.#onAuth(step, ev);
          return;
        case 'ready':
          this.#onReady(ev);
          return;
        case 'closed':
          return;
        default: {
          const never: never = step;
          return never;
        }
      }
    }

    #onStartup(m: FrontendMessage): void {
      switch (m.type) {
        case 'sslRequest':
          if (secure && !this.#isTls) {
            this.#startTls();
            return;
          }
          if (this.#isTls) {
            // A second SSLRequest after TLS: postmaster answers it as an unsupported protocol version.
            this.#w.errorResponse(fatal(SqlState.protocolViolation, 'unsupported frontend protocol 1234.5679: server supports 3.0 to 3.0'));
            this.#close(true);
            return;
          }
          this.#w.raw('N');
          this.#refuseUnencryptedData('SSL');
          return;
        case 'gssEncRequest':
          this.#w.raw('N');
          this.#refuseUnencryptedData('GSSAPI encryption');
          return;
        case 'cancelRequest':
          // The mock runs nothing long enough to cancel; Postgres closes a cancel connection silently.
          this.#close(false);
          return;
        case 'startup':
          this.#onStartupMessage(m);
          return;
        case 'bind':
        case 'close':
        case 'copyData':
        case 'copyDone':
        case 'copyFail':
        case 'describe':
        case 'execute':
        case 'flush':
        case 'functionCall':
        case 'parse':
        case 'password':
        case 'query':
        case 'sync':
        case 'terminate':
          // Cannot come from a decoder still in its startup phase.
          this.#close(false);
          return;
        default: {
          const never: never = m;
          return never;
        }
      }
    }

    /**
     * Bytes already buffered behind an SSL/GSS request are refused, as
     * postmaster.c does since the CVE-2021-23214 fix: they could have been
     * injected by a man in the middle.
     */
    #refuseUnencryptedData(what: string): void {
      if (this.#decoder.pendingBytes === 0) return;
      this.#w.errorResponse({
        ...fatal(SqlState.protocolViolation, `received unencrypted data after ${what} request`),
        detail: 'This could be either a client-software bug or evidence of an attempted man-in-the-middle attack.',
      });
      this.#close(true);
    }

    #startTls(): void {
      const plain = this.#sock;
      plain.off('data', this.#onData);
      this.#w.raw('S');
      this.#refuseUnencryptedData('SSL');
      if (this.#step.k === 'closed') return;
      plain.write(this.#w.take());
      const tls = new TLSSocket(plain, { isServer: true, secureContext: secure as SecureContext });
      tls.on('error', (err) => {
        log.debug({ err }, 'pg mock TLS error');
        tls.destroy();
      });
      this.#isTls = true;
      this.attach(tls);
    }

    #onStartupMessage(m: Extract<FrontendMessage, { type: 'startup' }>): void {
      if (m.major !== PROTOCOL_MAJOR) {
        this.#w.errorResponse(
          fatal(SqlState.featureNotSupported, `unsupported frontend protocol ${m.major}.${m.minor}: server supports 3.0 to 3.0`),
        );
        this.#close(true);
        return;
      }
      const unrecognized = Object.keys(m.parameters).filter((k) => k.startsWith('_pq_.'));
      if (m.minor > PROTOCOL_MINOR || unrecognized.length > 0) {
        // Newer minor versions and protocol options are negotiated down, not refused.
        this.#w.negotiateProtocolVersion(PROTOCOL_MINOR, unrecognized);
      }
      const user = m.parameters.user;
      if (user === undefined || user === '') {
        this.#w.errorResponse(fatal(SqlState.invalidAuthorization, 'no PostgreSQL user name specified in startup packet'));
        this.#close(true);
        return;
      }
      if (m.parameters.replication !== undefined && m.parameters.replication !== 'false' && m.parameters.replication !== 'off') {
        this.#w.errorResponse(fatal(SqlState.featureNotSupported, 'doppel mock: replication connections are not supported in mock'));
        this.#close(true);
        return;
      }
      this.#user = user;
      for (const [k, v] of Object.entries(m.parameters)) if (!k.startsWith('_pq_.')) this.#startupParams[k] = v;
      if (opts.user !== undefined && opts.user !== user) {
        this.#authFailed();
        return;
      }
      const appName = m.parameters.application_name;
      this.#appName = appName;
      switch (auth) {
        case 'trust':
          this.#startupDone(appName);
          return;
        case 'md5': {
          const salt = randomBytes(4);
          this.#w.authentication(AuthCode.MD5Password, salt);
          this.#step = { k: 'md5', salt };
          return;
        }
        case 'scram-sha-256': {
          const mech = Buffer.from('SCRAM-SHA-256\0\0', 'utf8');
          this.#w.authentication(AuthCode.SASL, mech);
          this.#step = { k: 'scramFirst', scram: createScramServer(opts.password as string) };
          return;
        }
        default: {
          const never: never = auth;
          return never;
        }
      }
    }

    #appName: string | undefined;

    #authFailed(): void {
      this.#w.errorResponse(fatal(SqlState.invalidPassword, `password authentication failed for user "${this.#user}"`));
      this.#close(true);
    }

    #onAuth(step: Extract<Step, { k: 'md5' | 'scramFirst' | 'scramFinal' }>, m: FrontendMessage): void {
      if (m.type !== 'password') {
        if (m.type === 'terminate') {
          this.#close(false);
          return;
        }
        this.#w.errorResponse(fatal(SqlState.protocolViolation, `expected password response, got message type ${m.type}`));
        this.#close(true);
        return;
      }
      switch (step.k) {
        case 'md5': {
          const sent = m.data.toString('utf8').replace(/\0$/, '');
          if (!isMd5PasswordValid(sent, this.#user, opts.password as string, step.salt)) {
            this.#authFailed();
            return;
          }
          this.#startupDone(this.#appName);
          return;
        }
        case 'scramFirst': {
          const r = step.scram.start(m.data);
          if (!r.ok) {
            this.#w.errorResponse(fatal(SqlState.protocolViolation, r.reason));
            this.#close(true);
            return;
          }
          this.#w.authentication(AuthCode.SASLContinue, Buffer.from(r.serverFirst));
          this.#step = { k: 'scramFinal', scram: step.scram };
          return;
        }
        case 'scramFinal': {
          const r = step.scram.finish(m.data);
          if (!r.ok) {
            this.#authFailed();
            return;
          }
          this.#w.authentication(AuthCode.SASLFinal, Buffer.from(r.serverFinal));
          this.#startupDone(this.#appName);
          return;
        }
        default: {
          const never: never = step;
          return never;
        }
      }
    }

    #startupDone(appName: string | undefined): void {
      this.#w.authenticationOk();
      for (const [k, v] of baseStatus) {
        if (k === 'application_name') this.#w.parameterStatus(k, appName ?? v);
        else if (k === 'session_authorization') this.#w.parameterStatus(k, this.#user);
        else this.#w.parameterStatus(k, v);
      }
      this.#w.backendKeyData(randomInt(1, 2 ** 31 - 1), randomInt(-(2 ** 31), 2 ** 31 - 1));
      this.#w.readyForQuery('I');
      this.#step = { k: 'ready' };
    }

    #onReady(m: FrontendMessage): void {
      switch (m.type) {
        case 'query':
          this.#isSkipping = false;
          this.#simpleQuery(m.sql);
          if (this.#pending === undefined) this.#w.readyForQuery(this.#tx);
          else this.#pending = this.#pending.then(() => void this.#w.readyForQuery(this.#tx));
          return;
        case 'sync':
          this.#isSkipping = false;
          this.#w.readyForQuery(this.#tx);
          return;
        case 'flush':
          return;
        case 'terminate':
          this.#close(false);
          return;
        case 'parse':
        case 'bind':
        case 'describe':
        case 'execute':
        case 'close':
          if (this.#isSkipping) return;
          try {
            this.#extended(m);
          } catch (err) {
            if (!(err instanceof MissError)) throw err;
            this.#sendError(err.fields);
            this.#isSkipping = true;
          }
          return;
        case 'functionCall':
          this.#sendError(error(SqlState.featureNotSupported, 'doppel mock: the function call protocol is not supported in mock'));
          this.#isSkipping = true;
          return;
        case 'copyData':
        case 'copyDone':
        case 'copyFail':
          // Outside COPY the server ignores these (PostgreSQL docs, "COPY Operations").
          return;
        case 'password':
        case 'startup':
        case 'sslRequest':
        case 'gssEncRequest':
        case 'cancelRequest':
          this.#w.errorResponse(fatal(SqlState.protocolViolation, `invalid frontend message type ${m.type === 'password' ? 112 : 0}`));
          this.#close(true);
          return;
        default: {
          const never: never = m;
          return never;
        }
      }
    }

    #sendError(f: PgErrorFields): void {
      this.#w.errorResponse(f);
      if (this.#tx === 'T') this.#tx = 'E';
    }

    /** Applies the transaction effect of a served recording. */
    #applyTx(shape: SqlShape, entry: PgEntry): void {
      this.#tx = txStatusAfterServed(this.#tx, shape, entry);
    }

    #isBlockedByFailedTx(shape: SqlShape): boolean {
      if (this.#tx !== 'E' || !isRefusedInFailedTx(shape)) return false;
      this.#w.errorResponse(
        error(SqlState.inFailedTransaction, 'current transaction is aborted, commands ignored until end of transaction block'),
      );
      return true;
    }

    #isUpstreamInTx(): boolean {
      return this.#up !== undefined && this.#up.isOpen && this.#up.status !== 'I';
    }

    /**
     * Why a miss is not passed through: inside a transaction block the mock
     * simulates from recordings, the server would run the statement in its own
     * autocommit transaction, and a ROLLBACK served from the recording could not
     * undo it.
     */
    #missReason(): string | undefined {
      if (target === undefined || this.#tx === 'I') return undefined;
      return `no recording for statement inside a transaction block (passthrough to ${targetName} runs only outside one)`;
    }

    /** The server connection for this client connection, opened on first use, with the SETs served so far replayed. */
    async #upstream(): Promise<PgUpstream> {
      let up = this.#up;
      if (up === undefined || !up.isOpen) {
        this.#up = undefined;
        up = await PgUpstream.open({
          target: target as HostPort,
          parameters: this.#startupParams,
          password: opts.password,
          connectTimeoutMs: opts.targetConnectTimeoutMs ?? 10_000,
          maxMessageBytes,
        });
        if (this.#isDisposed || this.#step.k === 'closed') {
          up.close();
          throw new Error('the client connection closed');
        }
        this.#up = up;
        this.#setsSent = 0;
        // The record session turns what goes through into pg exchanges, exactly as the record relay does.
        const session = new PgRecordSession({
          connection: this.#id,
          emit: (rec) => {
            if (rec.payload.request.kind !== 'startup') this.#upRecorded.push(rec);
          },
        });
        const at = Date.now();
        session.onFrontend({ type: 'startup', major: PROTOCOL_MAJOR, minor: PROTOCOL_MINOR, parameters: this.#startupParams, raw: Buffer.alloc(0) }, at);
        session.onBackend({ type: 'readyForQuery', status: up.status }, at);
        this.#upSession = session;
        log.debug({ connection: this.#id, target: targetName }, 'pg mock opened a passthrough connection');
      }
      while (this.#setsSent < this.#sets.length) {
        const sql = this.#sets[this.#setsSent++] as string;
        const evs = await up.request(queryMessage(sql), 1);
        const err = evs.find((e) => e.type === 'error');
        if (err !== undefined) log.debug({ sql: shortSql(sql), error: err.fields.message }, 'replaying a SET on the passthrough connection failed');
      }
      return up;
    }

    /** Runs one batch on the server; the exchange it makes is stored and returned. */
    async #pass(msgs: FrontendMessage[], bytes: Buffer): Promise<{ entry: PgEntry | undefined; up: PgUpstream }> {
      const up = await this.#upstream();
      const session = this.#upSession as PgRecordSession;
      const at = Date.now();
      for (const m of msgs) session.onFrontend(m, at);
      const events: BackendEvent[] = await up.request(bytes, 1);
      const done = Date.now();
      this.#upRecorded = [];
      for (const ev of events) session.onBackend(ev, done);
      let entry: PgEntry | undefined;
      for (const rec of this.#upRecorded) entry = storePassthrough(rec);
      this.#upRecorded = [];
      if (entry !== undefined) this.#affinity = { connection: entry.connection, seq: entry.seq };
      return { entry, up };
    }

    /** The server could not be reached or was lost: 08006 naming it; the client connection goes on. */
    #passFailed(kind: 'simple' | 'extended', sql: string, err: unknown): void {
      const wasInTx = this.#isUpstreamInTx();
      this.#up?.close();
      this.#up = undefined;
      const fields = miss(kind, sql, [], `passthrough to ${targetName} failed`).fields;
      fields.code = SqlState.connectionFailure;
      fields.message = `doppel mock: cannot pass the statement through to ${targetName}: ${(err as Error).message}`;
      delete fields.detail;
      log.warn({ target: targetName, err: (err as Error).message }, 'pg passthrough failed');
      // A transaction the server held is gone with its connection.
      if (wasInTx) this.#tx = 'E';
      this.#sendError(fields);
    }

    async #passSimple(sql: string, shape: SqlShape): Promise<void> {
      try {
        const { entry, up } = await this.#pass([{ type: 'query', sql }], queryMessage(sql));
        if (entry === undefined) throw new Error('the server answered without a result');
        this.#serveSimple(shape, entry, 'passthrough');
        this.#tx = up.status;
        if (shape.commands.every((c) => c === 'set' || c === 'reset')) {
          this.#sets.push(sql);
          this.#setsSent = this.#sets.length;
        }
      } catch (err) {
        this.#passFailed('simple', sql, err);
      }
    }

    /**
     * Bind of a statement no recording answers: the whole portal run goes to the
     * server at once (unnamed statement and portal, the client's parameter and
     * result formats, Sync), and Describe and Execute are then served from the
     * exchange it made, as from any recording.
     */
    async #passBind(st: Statement, m: Extract<FrontendMessage, { type: 'bind' }>): Promise<void> {
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
        const { entry, up } = await this.#pass(msgs, bytes);
        if (entry === undefined) throw new Error('the server answered without a result');
        counted('passthrough');
        this.#tx = up.status;
        if ((entry.errorPhase === 'parse' || entry.errorPhase === 'bind') && entry.response.error !== null) {
          this.#sendError(entry.response.error);
          this.#isSkipping = true;
          return;
        }
        this.#portals.set(m.portal, { statement: st, entry, resultFormats: m.resultFormats, rowsSent: 0, isDone: false });
        this.#w.bindComplete();
      } catch (err) {
        this.#passFailed('extended', st.sql, err);
        this.#isSkipping = true;
      }
    }

    /** Describe of a prepared statement no recording describes: asked of the server (Parse, Describe, Sync). */
    async #passDescribe(st: Statement): Promise<void> {
      const bytes = Buffer.concat([parseMessage('', st.sql, st.paramTypes), describeMessage('S', ''), syncMessage()]);
      try {
        const up = await this.#upstream();
        const events = await up.request(bytes, 1);
        // ParseComplete and ReadyForQuery answer the mock's own Parse and Sync: not relayed.
        for (const ev of events) {
          if (ev.type === 'parameterDescription') {
            st.paramTypes = ev.types;
            this.#w.parameterDescription(ev.types);
          } else if (ev.type === 'rowDescription') {
            this.#w.rowDescription(ev.fields, () => 0);
          } else if (ev.type === 'noData') {
            this.#w.noData();
          } else if (ev.type === 'error') {
            this.#sendError(ev.fields);
            this.#isSkipping = true;
          }
        }
      } catch (err) {
        this.#passFailed('extended', st.sql, err);
        this.#isSkipping = true;
      }
    }

    #take(sql: string, params: string[]): PgEntry | undefined {
      const traceId = traceIdOfSql(sql);
      const e = index.take(sql, params, this.#affinity, traceId);
      if (e) this.#affinity = { connection: e.connection, seq: e.seq };
      observeCandidate(sql, traceId, e);
      return e;
    }

    #simpleQuery(sql: string): void {
      if (this.#isUpstreamInTx()) {
        // The server holds this connection's transaction: everything in it runs there.
        this.#pending = this.#passSimple(sql, index.analyze(sql));
        return;
      }
      if (this.#tx !== 'E') {
        // Fast path: the exact recorded text needs no SQL scan.
        const traceId = traceIdOfSql(sql);
        const hit = index.takeRaw(sql, [], this.#affinity, traceId);
        if (hit?.shape !== undefined) {
          this.#affinity = { connection: hit.connection, seq: hit.seq };
          observeCandidate(sql, traceId, hit);
          this.#serveSimple(hit.shape, hit);
          return;
        }
      }
      const shape = index.analyze(sql);
      if (shape.isEmpty) {
        this.#w.emptyQueryResponse();
        return;
      }
      if (this.#isBlockedByFailedTx(shape)) return;
      if (shape.commands.includes('copy')) {
        counted('unmatched');
        this.#sendError(error(SqlState.featureNotSupported, 'doppel mock: COPY is not supported in mock'));
        return;
      }
      const entry = this.#take(sql, []);
      if (entry === undefined) {
        if (target !== undefined && this.#tx === 'I') {
          this.#pending = this.#passSimple(sql, shape);
          return;
        }
        this.#sendError(miss('simple', sql, [], this.#missReason()).fields);
        return;
      }
      this.#serveSimple(shape, entry);
    }

    #serveSimple(shape: SqlShape, entry: PgEntry, result: 'matched' | 'passthrough' = 'matched'): void {
      counted(result);
      if (result === 'matched' && shape.commands.every((c) => c === 'set' || c === 'reset')) this.#sets.push(entry.request.sql);
      const res = entry.response;
      for (const n of res.notices) this.#w.noticeResponse(n);
      for (const r of res.results) {
        const isPartial = r.command === null && res.error !== null;
        if (r.fields.length > 0) {
          this.#w.rowDescription(r.fields, (i) => r.fields[i]?.format ?? 0);
          for (const row of r.rows) this.#w.dataRow(row.map(cellBytes));
        }
        if (isPartial) continue;
        if (r.command === null) this.#w.emptyQueryResponse();
        else this.#w.commandComplete(r.command);
      }
      if (res.error !== null) this.#w.errorResponse(res.error);
      this.#applyTx(shape, entry);
    }

    #extended(m: Extract<FrontendMessage, { type: 'parse' | 'bind' | 'describe' | 'execute' | 'close' }>): void {
      switch (m.type) {
        case 'parse': {
          if (m.name !== '' && this.#statements.has(m.name)) {
            throw new MissError(error(SqlState.duplicatePreparedStatement, `prepared statement "${m.name}" already exists`));
          }
          const info = parsed(m.sql);
          const shape = info.shape;
          if (this.#isBlockedByFailedTx(shape)) throw new MissError(this.#lastError());
          const pe = info.parseError;
          if (pe?.response.error) {
            counted('matched');
            throw new MissError(pe.response.error);
          }
          if (info.isCopy) {
            counted('unmatched');
            throw new MissError(error(SqlState.featureNotSupported, 'doppel mock: COPY is not supported in mock'));
          }
          const described = info.described;
          const paramTypes = m.paramTypes.length > 0 && m.paramTypes.every((t) => t !== 0) ? m.paramTypes : (described?.paramTypes ?? m.paramTypes);
          this.#statements.set(m.name, { sql: m.sql, shape, paramTypes });
          this.#w.parseComplete();
          return;
        }
        case 'bind': {
          const st = this.#statements.get(m.statement);
          if (st === undefined) {
            throw new MissError(
              error(
                SqlState.undefinedPreparedStatement,
                m.statement === '' ? 'unnamed prepared statement does not exist' : `prepared statement "${m.statement}" does not exist`,
              ),
            );
          }
          if (this.#isBlockedByFailedTx(st.shape)) throw new MissError(this.#lastError());
          const params = m.params.map((p, i) => paramKey(p, formatAt(m.paramFormats, i), st.paramTypes[i]));
          if (st.shape.isEmpty) {
            counted('matched');
            this.#portals.set(m.portal, { statement: st, entry: emptyEntry, resultFormats: m.resultFormats, rowsSent: 0, isDone: false });
            this.#w.bindComplete();
            return;
          }
          const entry = this.#isUpstreamInTx() ? undefined : this.#take(st.sql, params);
          if (entry === undefined) {
            if (target !== undefined && (this.#tx === 'I' || this.#isUpstreamInTx())) {
              this.#pending = this.#passBind(st, m);
              return;
            }
            throw miss('extended', st.sql, params, this.#missReason());
          }
          counted('matched');
          if (entry.errorPhase === 'bind' && entry.response.error) throw new MissError(entry.response.error);
          this.#portals.set(m.portal, { statement: st, entry, resultFormats: m.resultFormats, rowsSent: 0, isDone: false });
          this.#w.bindComplete();
          return;
        }
        case 'describe': {
          if (m.target === 'S') {
            const st = this.#statements.get(m.name);
            if (st === undefined) {
              throw new MissError(error(SqlState.undefinedPreparedStatement, `prepared statement "${m.name}" does not exist`));
            }
            const info = st.shape.isEmpty ? { paramTypes: [], fields: [], hasFields: true } : index.describeStatement(st.sql);
            if (info === undefined && target !== undefined) {
              // Describing runs nothing, so it may go to the server inside a simulated transaction too.
              this.#pending = this.#passDescribe(st);
              return;
            }
            if (info === undefined) throw miss('extended', st.sql, [], 'no recording describes statement');
            const types = [...info.paramTypes];
            for (let i = types.length; i < Math.max(st.shape.paramCount, st.paramTypes.length); i++) types.push(st.paramTypes[i] ?? 0);
            this.#w.parameterDescription(types);
            if (info.fields.length > 0) this.#w.rowDescription(info.fields, () => 0);
            else this.#w.noData();
            return;
          }
          const p = this.#portals.get(m.name);
          if (p === undefined) throw new MissError(error(SqlState.undefinedCursor, `portal "${m.name}" does not exist`));
          const r = p.entry.response.results[0];
          if (r !== undefined && r.fields.length > 0) {
            this.#checkFormats(p, r);
            this.#w.rowDescription(r.fields, (i) => formatAt(p.resultFormats, i));
          } else {
            this.#w.noData();
          }
          return;
        }
        case 'execute': {
          const p = this.#portals.get(m.portal);
          if (p === undefined) throw new MissError(error(SqlState.undefinedCursor, `portal "${m.portal}" does not exist`));
          this.#execute(p, m.maxRows);
          return;
        }
        case 'close':
          if (m.target === 'S') this.#statements.delete(m.name);
          else this.#portals.delete(m.name);
          this.#w.closeComplete();
          return;
        default: {
          const never: never = m;
          return never;
        }
      }
    }

    #lastError(): PgErrorFields {
      return error(SqlState.inFailedTransaction, 'current transaction is aborted, commands ignored until end of transaction block');
    }

    /** A requested format the recording does not hold must be re-encodable, or it is a clear miss. */
    #checkFormats(p: Portal, r: PgResult): void {
      for (let i = 0; i < r.fields.length; i++) {
        const f = r.fields[i] as PgField;
        const want = formatAt(p.resultFormats, i);
        if (want !== f.format && !isConvertibleType(f.typeOid)) {
          throw miss(
            'extended',
            p.statement.sql,
            [],
            `column "${f.name}" (type oid ${f.typeOid}) was recorded in ${f.format === 0 ? 'text' : 'binary'} format and cannot be sent as ${want === 0 ? 'text' : 'binary'}`,
          );
        }
      }
    }

    #execute(p: Portal, maxRows: number): void {
      const entry = p.entry;
      const res = entry.response;
      if (p.statement.shape.isEmpty) {
        this.#w.emptyQueryResponse();
        return;
      }
      if (p.isDone) {
        // A finished portal executed again returns no rows (PostgreSQL docs, "Extended Query").
        const r0 = res.results[0];
        this.#w.commandComplete(r0?.command ?? 'SELECT 0');
        return;
      }
      if (p.rowsSent === 0) for (const n of res.notices) this.#w.noticeResponse(n);
      const r = res.results[0];
      if (r === undefined) {
        if (res.error !== null) {
          p.isDone = true;
          this.#applyTx(p.statement.shape, entry);
          throw new MissError(res.error);
        }
        this.#w.emptyQueryResponse();
        return;
      }
      this.#checkFormats(p, r);
      const total = r.rows.length;
      const end = maxRows > 0 ? Math.min(total, p.rowsSent + maxRows) : total;
      const conv = this.#converters(p, r);
      for (let i = p.rowsSent; i < end; i++) {
        const row = r.rows[i] as PgValue[];
        this.#w.dataRow(conv === undefined ? row.map(cellBytes) : row.map((c, j) => convertCell(c, conv[j], r.fields[j] as PgField, codecCtx)));
      }
      p.rowsSent = end;
      if (end < total || (r.suspended === true && r.command === null && res.error === null)) {
        this.#w.portalSuspended();
        return;
      }
      p.isDone = true;
      this.#applyTx(p.statement.shape, entry);
      if (r.command !== null) this.#w.commandComplete(r.command);
      else if (res.error !== null) throw new MissError(res.error);
      else this.#w.emptyQueryResponse();
      if (res.error !== null && entry.errorPhase === 'sync') this.#w.errorResponse(res.error);
    }

    /** Per column: the format to send when it differs from the recorded one; undefined when none differ. */
    #converters(p: Portal, r: PgResult): Array<number | undefined> | undefined {
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
  }

  const server: Server = createServer({ noDelay: true }, onConnection);
  const address = await listenOn(server, opts.listen, opts.listenFlag ?? `mocks[${opts.service}].listen`);
  server.on('error', (err) => log.error({ err }, 'pg mock listener error'));
  log.info({ listen: `${address.address}:${address.port}`, recordings: index.size }, 'pg mock listening');

  return {
    address,
    stats: () => ({ matched, unmatched: unmatchedCount, passthrough: passthroughCount, recordings: index.size, connections: sockets.size }),
    unmatched: () => [...unmatchedCalls],
    reset: () => index.reset(),
    addExchange,
    close: async () => {
      clearInterval(evictTimer);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      await Promise.all([...appends]);
    },
  };
}

const emptyEntry: PgEntry = {
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

function cellBytes(c: PgValue): Buffer | string | null {
  if (c === null || typeof c === 'string') return c;
  return Buffer.from(c.b64, 'base64');
}

function convertCell(c: PgValue, want: number | undefined, f: PgField, ctx: CodecContext): Buffer | string | null {
  if (c === null || want === undefined) return cellBytes(c);
  if (want === 1 && typeof c === 'string') {
    const b = textToBinary(f.typeOid, c, ctx);
    if (b === undefined) throw new Error(`cannot encode ${f.name} (type oid ${f.typeOid}) as binary`);
    return b;
  }
  if (want === 0 && typeof c !== 'string') {
    const t = binaryToText(f.typeOid, Buffer.from(c.b64, 'base64'), ctx);
    if (t === undefined) throw new Error(`cannot decode ${f.name} (type oid ${f.typeOid}) to text`);
    return t;
  }
  return cellBytes(c);
}
