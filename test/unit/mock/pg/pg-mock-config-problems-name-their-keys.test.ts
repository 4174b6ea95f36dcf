import { describe, expect, it } from 'vitest';
import { checkPgMockConfig } from '../../../../src/config/check-pg-mock.js';
import { parseConfig } from '../../../../src/config/load.js';
import { DoppelError } from '../../../../src/core/errors.js';

describe('pg mock configuration checks', () => {
  it('accepts trust without a password, and md5 or scram with one', () => {
    expect(checkPgMockConfig({ auth: 'trust' }, 'mocks[0]')).toEqual([]);
    expect(checkPgMockConfig({ auth: 'md5', password: 's3cret' }, 'mocks[0]')).toEqual([]);
    expect(checkPgMockConfig({ auth: 'scram-sha-256', password: 's3cret', target: '127.0.0.1:5432', tls: { generate: true } }, 'mocks[0]')).toEqual([]);
    expect(checkPgMockConfig({ auth: 'trust', target: '[::1]:5432', tls: { cert: 'c.pem', key: 'k.pem', generate: false } }, 'mocks[0]')).toEqual([]);
  });

  it('names every problem by its key path', () => {
    expect(checkPgMockConfig({ auth: 'md5' }, 'mocks[1]')).toEqual(['mocks[1].password: required when auth is md5']);
    expect(checkPgMockConfig({ auth: 'scram-sha-256', password: '' }, 'mocks[2]')).toEqual(['mocks[2].password: required when auth is scram-sha-256']);
    expect(
      checkPgMockConfig({ auth: 'trust', target: 'localhost', tls: { cert: 'c.pem', generate: true } }, 'mocks[0]'),
    ).toEqual([
      'mocks[0].target: expected host:port of the real Postgres server, got "localhost"',
      'mocks[0].tls.key: required with tls.cert',
      'mocks[0].tls.generate: cannot be combined with tls.cert and tls.key',
    ]);
    expect(checkPgMockConfig({ auth: 'trust', target: '127.0.0.1:70000', tls: { generate: false } }, 'mocks[3]')).toEqual([
      'mocks[3].target: expected host:port of the real Postgres server, got "127.0.0.1:70000"',
      'mocks[3].tls: give cert and key, or generate: true',
    ]);
  });

  it('leaves entries of other protocols alone', () => {
    expect(checkPgMockConfig({ protocol: 'http', auth: 'md5' }, 'mocks[0]')).toEqual([]);
  });

  it('a config with md5 and no password fails at load with DOPPEL_CONFIG_INVALID (exit 2), naming file, line and key', () => {
    const text = ['mocks:', '  - service: db', '    protocol: pg', '    listen: 127.0.0.1:0', '    traffic: ./t', '    auth: md5'].join('\n');
    let err: unknown;
    try {
      parseConfig(text, 'doppel.yaml', {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DoppelError);
    expect((err as DoppelError).code).toBe('DOPPEL_CONFIG_INVALID');
    expect((err as DoppelError).exitCode).toBe(2);
    expect((err as DoppelError).details).toEqual(['doppel.yaml:2 mocks[0].password: required when auth is md5']);
  });
});

describe('pg parameter ignore rules', () => {
  it('reads $N, param:N and pg:$N as 0-based positions and picks pg: rules out of compare.ignore', async () => {
    const { parsePgParamRules, pgRulesOf } = await import('../../../../src/mock/pg/config.js');
    expect(parsePgParamRules(['$1', 'param:3', 'pg:$2', 'PG:param:2'])).toEqual({ positions: new Set([0, 2, 1]), problems: [] });
    expect(parsePgParamRules(['$0', 'pg:$x'], 'compare.ignore').problems).toHaveLength(2);
    expect(pgRulesOf(['$.createdAt', 'header:date', 'pg:$2', ' pg:param:4'])).toEqual(['pg:$2', ' pg:param:4']);
  });
});
