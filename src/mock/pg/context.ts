/**
 * The state the mock's phases share, named instead of held in a closure:
 * `MockContext` is one per mock (index, counts, configuration resolved at
 * start), `ConnContext` one per client connection (its protocol step,
 * transaction status, prepared statements and portals, passthrough
 * connection). Phases are functions of a ConnContext; the helpers here are
 * the few every phase uses.
 */
import type { Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import type { HostPort } from '../../core/address.js';
import type { PgErrorFields, TxStatus } from '../../core/exchange.js';
import type { Logger } from '../../core/logger.js';
import { BackendWriter } from '../../protocols/pg/backend-encoder.js';
import { FrontendDecoder } from '../../protocols/pg/frontend-decoder.js';
import type { PgRecordSession, RecordedPg } from '../../protocols/pg/record-session.js';
import type { SqlShape } from '../../protocols/pg/sql-normalizer.js';
import type { CodecContext } from '../../protocols/pg/type-codec.js';
import type { ScramServer } from './auth.js';
import type { LiveWindow } from './live-window.js';
import type { ParseCache } from './parse-cache.js';
import type { Affinity, PgEntry, PgIndex } from './statement-index.js';
import type { Tally } from './tally.js';
import { txStatusAfterServed } from './tx.js';
import type { PgUpstream } from './upstream.js';

export interface MockContext {
  log: Logger;
  index: PgIndex;
  tally: Tally;
  live: LiveWindow;
  parsed: ParseCache;
  auth: 'trust' | 'md5' | 'scram-sha-256';
  /** when set, only this user name is accepted */
  user: string | undefined;
  password: string | undefined;
  /** set when TLS is configured */
  secure: SecureContext | undefined;
  maxMessageBytes: number;
  /** ParameterStatus values sent after authentication, in order */
  parameterStatus: ReadonlyMap<string, string>;
  codec: CodecContext;
  /** the real server for passthrough, and its name for messages */
  target: HostPort | undefined;
  targetName: string;
  targetConnectTimeoutMs: number;
  targetTimeoutMs: number;
  /** doppel_upstream_failures_total of this mock's passthrough target */
  countUpstreamFailure(err: unknown): void;
  /** indexes and writes an exchange made by passthrough */
  storePassthrough(rec: RecordedPg): PgEntry;
}

export type Step =
  | { k: 'startup' }
  | { k: 'md5'; salt: Buffer }
  | { k: 'scramFirst'; scram: ScramServer }
  | { k: 'scramFinal'; scram: ScramServer }
  | { k: 'ready' }
  | { k: 'closed' };

export interface Statement {
  sql: string;
  shape: SqlShape;
  paramTypes: number[];
}

export interface Portal {
  statement: Statement;
  entry: PgEntry;
  resultFormats: number[];
  rowsSent: number;
  isDone: boolean;
}

export class ConnContext {
  readonly mock: MockContext;
  readonly id: string;
  sock: Socket;
  readonly onData: (chunk: Buffer) => void;
  step: Step = { k: 'startup' };
  readonly decoder: FrontendDecoder;
  /** replies to everything decoded from one TCP chunk, sent in one write */
  readonly w = new BackendWriter();
  tx: TxStatus = 'I';
  /** after an error in extended query, messages are ignored up to Sync */
  isSkipping = false;
  isTls = false;
  user = '';
  appName: string | undefined;
  startupParams: Record<string, string> = {};
  readonly statements = new Map<string, Statement>();
  readonly portals = new Map<string, Portal>();
  affinity: Affinity | undefined;
  /** a passthrough in flight: later messages wait in the decoder, so answers keep their order */
  pending: Promise<void> | undefined;
  up: PgUpstream | undefined;
  upSession: PgRecordSession | undefined;
  upRecorded: RecordedPg[] = [];
  /** SET statements served from recordings, replayed on the server before a passthrough */
  readonly sets: string[] = [];
  setsSent = 0;
  isDisposed = false;

  constructor(mock: MockContext, id: string, sock: Socket, onData: (chunk: Buffer) => void) {
    this.mock = mock;
    this.id = id;
    this.sock = sock;
    this.onData = onData;
    this.decoder = new FrontendDecoder({ maxMessageBytes: mock.maxMessageBytes });
  }
}

/** Reads the connection from `sock` (the plain socket, or the TLS socket over it). */
export function attachSocket(c: ConnContext, sock: Socket): void {
  c.sock = sock;
  sock.on('data', c.onData);
  sock.on('drain', () => sock.resume());
}

export function flush(c: ConnContext): void {
  if (c.w.length === 0 || c.sock.destroyed) return;
  if (!c.sock.write(c.w.take())) c.sock.pause();
}

/** Ends the connection; with `isReply`, the pending replies (an ErrorResponse) go out first. */
export function closeConnection(c: ConnContext, isReply: boolean): void {
  c.step = { k: 'closed' };
  c.sock.off('data', c.onData);
  if (isReply && c.w.length > 0) c.sock.end(c.w.take());
  else c.sock.destroy();
}

/** An error inside a transaction block fails the block, as on the server. */
export function sendError(c: ConnContext, f: PgErrorFields): void {
  c.w.errorResponse(f);
  if (c.tx === 'T') c.tx = 'E';
}

/** Applies the transaction effect of a served recording. */
export function applyTx(c: ConnContext, shape: SqlShape, entry: PgEntry): void {
  c.tx = txStatusAfterServed(c.tx, shape, entry);
}

export function isUpstreamInTx(c: ConnContext): boolean {
  return c.up !== undefined && c.up.isOpen && c.up.status !== 'I';
}
