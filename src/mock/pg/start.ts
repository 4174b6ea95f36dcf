/**
 * One Postgres mock from a `mocks:` entry (or a --pg-dep flag turned into
 * one), shared by `doppel mock` and `doppel run` so both serve the same way.
 */
import type { MockConfig } from '../../config/schema.js';
import { parseDurationMs, parseSizeBytes } from '../../config/duration.js';
import { parseHostPort } from '../../core/address.js';
import { DoppelError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { Metrics } from '../../metrics/metrics.js';
import { createCorruptReporter } from '../../store/corrupt-reporter.js';
import { openStoreReader, openStoreWriter } from '../../store/open-store.js';
import type { ExchangeWriter } from '../../store/types.js';
import { createPgMock } from './server.js';
import type { PgMock } from './types.js';
import { loadPgMockTls } from './tls.js';
import { checkPgMockConfig, pgRulesOf } from './config.js';

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

export async function startPgMockFromConfig(mock: Readonly<MockConfig>, deps: StartPgMockDeps): Promise<PgMock> {
  const problems = checkPgMockConfig(mock, `mocks[${mock.service}]`);
  if (problems.length > 0) throw new DoppelError('DOPPEL_CONFIG_INVALID', `pg mock ${mock.service}: invalid configuration`, { details: problems });
  const tls = await loadPgMockTls(mock.tls);
  const reader = openStoreReader(deps.traffic);
  const corrupt = createCorruptReporter(deps.metrics, deps.log);
  const maxMessageBytes = parseSizeBytes(mock.max_message_bytes);
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
  const pg = await createPgMock({
    service: mock.service,
    listen: parseHostPort(mock.listen, `mocks[${mock.service}].listen`),
    listenFlag: deps.listenFlag ?? `mocks[${mock.service}].listen`,
    // Corrupt lines are counted and reported once here, with file:line.
    reader: { read: (opts) => reader.read({ ...opts, onCorrupt: corrupt.onCorrupt }) },
    log: deps.log,
    metrics: deps.metrics,
    auth: mock.auth,
    ignoreParams: pgRulesOf(deps.ignore),
    ...(mock.user === undefined ? {} : { user: mock.user }),
    ...(mock.password === undefined ? {} : { password: mock.password }),
    ...(maxMessageBytes === undefined ? {} : { maxMessageBytes }),
    loginTimeoutMs: parseDurationMs(mock.login_timeout) ?? 60_000,
    maxConnections: mock.max_connections,
    targetTimeoutMs: parseDurationMs(mock.target_timeout) ?? 30_000,
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
