/**
 * Postgres mock: a wire-protocol server that answers real clients (psql,
 * pgbench, node-postgres, postgres.js) from recorded `pg` exchanges.
 *
 * This file loads the recordings, resolves the configuration once into a
 * MockContext, and listens; each client connection is served by
 * connection.ts, and nothing one connection does affects another.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createSecureContext } from 'node:tls';
import type { Exchange, PgExchange } from '../../core/exchange.js';
import { DoppelError } from '../../core/errors.js';
import { newExchangeId } from '../../core/ids.js';
import { peerFailureReason } from '../../core/peer-failure.js';
import { listenOn } from '../../core/listen.js';
import type { Logger } from '../../core/logger.js';
import { BackendWriter } from '../../protocols/pg/backend-encoder.js';
import { DEFAULT_MAX_MESSAGE_BYTES, SqlState } from '../../protocols/pg/constants.js';
import { createSqlAnalyzer, loadSqlParser } from '../../protocols/pg/sql-normalizer.js';
import { parsePgParamRules } from './config.js';
import { disposeConnection, openConnection } from './connection.js';
import { closeConnection, type MockContext } from './context.js';
import { fatal } from './error-fields.js';
import { createLiveWindow } from './live-window.js';
import { createParseCache } from './parse-cache.js';
import { createPassthroughStore } from './passthrough-store.js';
import { parameterStatusOf } from './startup.js';
import { PgIndex } from './statement-index.js';
import { createTally } from './tally.js';
import type { PgMock, PgMockOptions } from './types.js';

export async function startPgMock(opts: PgMockOptions): Promise<PgMock> {
  const log = opts.log.child({ component: 'pg-mock', service: opts.service });
  const rules = parsePgParamRules(opts.ignoreParams ?? []);
  if (rules.problems.length > 0) {
    throw new DoppelError('DOPPEL_CONFIG_INVALID', `pg mock ${opts.service}: invalid configuration`, { details: rules.problems });
  }
  await loadSqlParser();
  const index = new PgIndex(createSqlAnalyzer(), rules.positions);
  await loadRecordings(opts, index, log);

  const parameterStatus = parameterStatusOf(index.startup);
  const target = opts.target;
  const passthrough = createPassthroughStore({ service: opts.service, index, recordTo: opts.recordTo, metrics: opts.metrics, log });
  const live = createLiveWindow(index, opts.live);
  const mock: MockContext = {
    log,
    index,
    tally: createTally({ service: opts.service, index, metrics: opts.metrics, log, maxUnmatched: opts.maxUnmatched ?? 1000 }),
    live,
    parsed: createParseCache(index),
    auth: opts.auth ?? 'trust',
    user: opts.user,
    password: opts.password,
    secure: opts.tls ? createSecureContext({ cert: opts.tls.cert, key: opts.tls.key }) : undefined,
    maxMessageBytes: opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    parameterStatus,
    codec: { timeZone: parameterStatus.get('TimeZone') ?? 'UTC' },
    target,
    targetName: target === undefined ? '' : `${target.host}:${target.port}`,
    targetConnectTimeoutMs: opts.targetConnectTimeoutMs ?? 10_000,
    targetTimeoutMs: opts.targetTimeoutMs ?? 30_000,
    countUpstreamFailure: (err) => opts.metrics.upstreamFailures.inc({ service: opts.service, reason: peerFailureReason(err) }),
    storePassthrough: (rec) => passthrough.store(rec),
  };

  const runTag = newExchangeId().slice(-6).toLowerCase();
  const loginTimeoutMs = opts.loginTimeoutMs ?? 60_000;
  let connCounter = 0;
  const sockets = new Set<Socket>();
  function onConnection(raw: Socket): void {
    sockets.add(raw);
    raw.setNoDelay(true);
    raw.on('close', () => sockets.delete(raw));
    raw.on('error', (err) => log.debug({ err }, 'pg mock client socket error'));
    const conn = openConnection(mock, `m-${runTag}-${++connCounter}`, raw);
    // postmaster.c: "canceling authentication due to timeout" (SQLSTATE 57014) after authentication_timeout.
    const login = setTimeout(() => {
      if (conn.step.k === 'ready' || conn.step.k === 'closed') return;
      conn.w.errorResponse(fatal(SqlState.queryCanceled, 'canceling authentication due to timeout'));
      closeConnection(conn, true);
    }, loginTimeoutMs);
    raw.on('close', () => {
      clearTimeout(login);
      disposeConnection(conn);
    });
  }

  const maxConnections = opts.maxConnections ?? Number.POSITIVE_INFINITY;
  const server: Server = createServer({ noDelay: true }, (raw) => {
    // As PostgreSQL past max_connections: FATAL 53300 "sorry, too many clients already", then close.
    if (sockets.size >= maxConnections) {
      raw.on('error', () => undefined);
      raw.end(new BackendWriter().errorResponse(fatal(SqlState.tooManyConnections, 'sorry, too many clients already')).take());
      return;
    }
    onConnection(raw);
  });
  const address = await listenOn(server, opts.listen, opts.listenFlag ?? `mocks[${opts.service}].listen`);
  server.on('error', (err) => log.error({ err }, 'pg mock listener error'));
  log.info({ listen: `${address.address}:${address.port}`, recordings: index.size }, 'pg mock listening');

  return {
    address,
    stats: () => ({ ...mock.tally.counts(), recordings: index.size, connections: sockets.size }),
    unmatched: () => mock.tally.unmatched(),
    reset: () => index.reset(),
    addExchange: (ex: PgExchange) => live.add(ex),
    close: async () => {
      live.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      await passthrough.settled();
    },
  };
}

/** Streams the recordings of this service into the index (of every service when none is this one's). */
async function loadRecordings(opts: PgMockOptions, index: PgIndex, log: Logger): Promise<void> {
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
  log.info({ recordings: index.size }, 'pg recordings loaded');
}
