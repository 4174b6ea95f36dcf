import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { DoppelError } from '../../../../src/core/errors.js';
import { createMetrics } from '../../../../src/metrics/metrics.js';
import { checkPgMockConfig } from '../../../../src/mock/pg/config.js';
import { startPgMock } from '../../../../src/mock/pg/server.js';

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

  it('startPgMock refuses md5 without a password with DOPPEL_CONFIG_INVALID (exit 2)', async () => {
    const err: unknown = await startPgMock({
      service: 'db',
      listen: { host: '127.0.0.1', port: 0 },
      exchanges: [],
      auth: 'md5',
      log: pino({ level: 'silent' }),
      metrics: createMetrics(),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DoppelError);
    expect((err as DoppelError).code).toBe('DOPPEL_CONFIG_INVALID');
    expect((err as DoppelError).exitCode).toBe(2);
    expect((err as DoppelError).details).toEqual(['password: required when auth is md5']);
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
