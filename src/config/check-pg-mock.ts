/**
 * Checks of a `mocks:` entry with `protocol: pg` that the schema cannot
 * express (one key depending on another). Each problem names its key path,
 * so the CLI can list them all and exit 2. Run once, at config load; the mock
 * receives entries that passed.
 */
import type { MockConfig } from './schema.js';

/** The parts of a pg mock entry these checks read; a full MockConfig fits. */
export type PgMockConfigLike = Pick<MockConfig, 'auth' | 'password' | 'target' | 'tls'> & { protocol?: string };

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):(\d{1,5})$/;

/** `path` prefixes each key (`mocks[1]` gives `mocks[1].password: ...`). */
export function checkPgMockConfig(mock: PgMockConfigLike, path?: string): string[] {
  const key = (k: string) => (path === undefined ? k : `${path}.${k}`);
  if (mock.protocol !== undefined && mock.protocol !== 'pg') return [];
  const problems: string[] = [];
  const auth = mock.auth ?? 'trust';
  if (auth !== 'trust' && (mock.password === undefined || mock.password === '')) {
    problems.push(`${key('password')}: required when auth is ${auth}`);
  }
  if (mock.target !== undefined) {
    const m = HOST_PORT.exec(mock.target);
    const port = m === null ? NaN : Number(m[2]);
    if (m === null || port < 1 || port > 65_535) problems.push(`${key('target')}: expected host:port of the real Postgres server, got "${mock.target}"`);
  }
  const tls = mock.tls;
  if (tls !== undefined) {
    const hasCert = tls.cert !== undefined;
    const hasKey = tls.key !== undefined;
    if (hasCert !== hasKey) problems.push(`${key(`tls.${hasCert ? 'key' : 'cert'}`)}: required with tls.${hasCert ? 'cert' : 'key'}`);
    if (tls.generate === true && (hasCert || hasKey)) problems.push(`${key('tls.generate')}: cannot be combined with tls.cert and tls.key`);
    if (tls.generate !== true && !hasCert && !hasKey) problems.push(`${key('tls')}: give cert and key, or generate: true`);
  }
  return problems;
}
