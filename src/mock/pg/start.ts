/**
 * One Postgres mock from a `mocks:` entry (or a --pg-dep flag turned into
 * one), shared by `doppel mock` and `doppel run` so both serve the same way.
 */
import type { ResolvedMock } from '../../config/resolve.js';
import { parseHostPort } from '../../core/address.js';
import type { Logger } from '../../core/logger.js';
import type { Metrics } from '../../metrics/metrics.js';
import { createCorruptReporter } from '../../store/corrupt-reporter.js';
import { openStoreReader, openStoreWriter } from '../../store/open-store.js';
import type { ExchangeWriter } from '../../store/types.js';
import { startPgMock } from './server.js';
import type { PgMock, PgMockAuth } from './types.js';
import { loadPgMockTls } from './tls.js';
import { pgRulesOf } from './config.js';

export interface StartPgMockDeps {
  /** traffic directories, already resolved */
  traffic: readonly string[];
  /** compare.ignore: its `pg:$N` rules leave those parameters out of matching */
  ignore: readonly string[];
  log: Logger;
  metrics: Metrics;
  /**
   * Writers for passthrough exchanges, shared per directory with the other
   * mocks; the caller closes them. Without it the mock opens its own and
   * closes it with the mock.
   */
  writers?: Map<string, ExchangeWriter>;
  /** the flag or config key that sets the mock's listen address; `mocks[NAME].listen` when absent */
  listenFlag?: string;
}

/** The entry's auth as the mock takes it; a password method has its password (checked at config load, config/check-pg-mock.ts). */
function pgMockAuthOf(mock: Readonly<ResolvedMock>): PgMockAuth {
  if (mock.auth === 'trust') return { auth: 'trust', ...(mock.password === undefined ? {} : { password: mock.password }) };
  return { auth: mock.auth, password: mock.password ?? '' };
}

export async function startPgMockFromConfig(mock: Readonly<ResolvedMock>, deps: StartPgMockDeps): Promise<PgMock> {
  const tls = await loadPgMockTls(mock.tls);
  const reader = openStoreReader(deps.traffic);
  const corrupt = createCorruptReporter(deps.metrics, deps.log);
  const target = mock.target === undefined ? undefined : parseHostPort(mock.target, `mocks[${mock.service}].target`);
  // Passthrough exchanges go to record_out (paths already resolved by the caller), else the first traffic directory.
  const recordDir = mock.record_out ?? deps.traffic[0];
  let recordTo: ExchangeWriter | undefined;
  let ownWriter: ExchangeWriter | undefined;
  if (target !== undefined && recordDir !== undefined) {
    recordTo = deps.writers?.get(recordDir);
    if (recordTo === undefined) {
      recordTo = await openStoreWriter(recordDir);
      if (deps.writers === undefined) ownWriter = recordTo;
      else deps.writers.set(recordDir, recordTo);
    }
  }
  const pg = await startPgMock({
    service: mock.service,
    listen: parseHostPort(mock.listen, `mocks[${mock.service}].listen`),
    listenFlag: deps.listenFlag ?? `mocks[${mock.service}].listen`,
    // Corrupt lines are counted and reported once here, with file:line.
    reader: { read: (opts) => reader.read({ ...opts, onCorrupt: corrupt.onCorrupt }) },
    log: deps.log,
    metrics: deps.metrics,
    ...pgMockAuthOf(mock),
    ignoreParams: pgRulesOf(deps.ignore),
    ...(mock.user === undefined ? {} : { user: mock.user }),
    maxMessageBytes: mock.max_message_bytes,
    loginTimeoutMs: mock.login_timeout_ms,
    maxConnections: mock.max_connections,
    targetTimeoutMs: mock.target_timeout_ms,
    ...(tls === undefined ? {} : { tls }),
    ...(target === undefined ? {} : { target }),
    ...(recordTo === undefined ? {} : { recordTo }),
  });
  if (ownWriter === undefined) return pg;
  const writer = ownWriter;
  return {
    get address() {
      return pg.address;
    },
    stats: () => pg.stats(),
    unmatched: () => pg.unmatched(),
    reset: () => pg.reset(),
    addExchange: (ex) => pg.addExchange(ex),
    async close() {
      await pg.close();
      await writer.close();
    },
  };
}
