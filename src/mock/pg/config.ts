/**
 * Checks of a `mocks:` entry with `protocol: pg` that the schema cannot
 * express (one key depending on another). Each problem names its key path,
 * so the CLI can list them all and exit 2.
 */
import type { MockConfig } from '../../config/schema.js';

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

const PARAM_RULE = /^(?:pg:)?(?:\$|param:)(\d+)$/i;

/**
 * Ignore rules for statement parameters: `$2`, `param:2`, or with the `pg:`
 * prefix used in `compare.ignore` (`pg:$2`). A parameter named by a rule is
 * not matched: recordings that differ only there are the same statement.
 * Returns 0-based positions and the problems of rules that do not parse.
 */
export function parsePgParamRules(rules: readonly string[], path = 'ignoreParams'): { positions: Set<number>; problems: string[] } {
  const positions = new Set<number>();
  const problems: string[] = [];
  rules.forEach((rule, i) => {
    const m = PARAM_RULE.exec(rule.trim());
    const n = m === null ? NaN : Number(m[1]);
    if (!(n >= 1 && n <= 65_535)) problems.push(`${path}[${i}]: ${JSON.stringify(rule)} is not a parameter rule; expected $N, param:N or pg:$N with N from 1`);
    else positions.add(n - 1);
  });
  return { positions, problems };
}

/** The `pg:` rules of a `compare.ignore` list (the other rules are JSON paths and headers). */
export function pgRulesOf(compareIgnore: readonly string[]): string[] {
  return compareIgnore.filter((r) => /^pg:/i.test(r.trim()));
}
