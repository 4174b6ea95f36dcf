/**
 * The Postgres mock's public shapes: what startPgMock takes and returns, and
 * what it reports (unmatched calls, traced statements) to the admin API and
 * the shadow.
 */
import type { AddressInfo } from 'node:net';
import type { HostPort } from '../../core/address.js';
import type { Exchange, PgExchange } from '../../core/exchange.js';
import type { Logger } from '../../core/logger.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { ExchangeReader, ExchangeWriter } from '../../store/types.js';

export interface PgMockTls {
  cert: string | Buffer;
  key: string | Buffer;
}

/**
 * How clients authenticate. A password method without a password cannot be
 * written: config/check-pg-mock.ts refuses it at load, this type everywhere else.
 */
export type PgMockAuth = { auth?: 'trust'; password?: string } | { auth: 'md5' | 'scram-sha-256'; password: string };

export interface PgMockBaseOptions {
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
  /** when set, only this user name is accepted */
  user?: string;
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
  /**
   * a client not through startup and authentication within this is sent FATAL 57014 and closed,
   * as PostgreSQL's authentication_timeout does (default 60 s)
   */
  loginTimeoutMs?: number;
  /** client connections held at once; more are closed as they arrive (default: no cap) */
  maxConnections?: number;
  /** a passthrough statement the target does not answer within this time fails with 08006 (default 30 s) */
  targetTimeoutMs?: number;
  /** bounds on exchanges fed at run time with `addExchange` (live mocks of `doppel shadow`) */
  live?: PgLiveWindow;
}

export type PgMockOptions = PgMockBaseOptions & PgMockAuth;

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
