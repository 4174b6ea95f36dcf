import type { HttpExchange, PgExchange } from '../../src/core/exchange.js';
import { newExchangeId } from '../../src/core/ids.js';

export function httpExchange(overrides: Partial<HttpExchange> & { url?: string; status?: number; body?: string } = {}): HttpExchange {
  const { url = '/orders/1', status = 200, body = '{"ok":true}', ...rest } = overrides;
  return {
    v: 1,
    id: newExchangeId(),
    session: 's-1',
    parent: null,
    direction: 'inbound',
    service: 'orders',
    protocol: 'http',
    startedAt: new Date().toISOString(),
    durationMs: 1.5,
    tags: {},
    http: {
      request: { method: 'GET', url, headers: [['Host', 'orders'], ['Accept', 'application/json']], body: '', bodyEncoding: 'utf8', truncated: false },
      response: { status, headers: [['Content-Type', 'application/json']], body, bodyEncoding: 'utf8', truncated: false },
    },
    ...rest,
  };
}

export function pgExchange(sql: string, seq: number): PgExchange {
  return {
    v: 1,
    id: newExchangeId(),
    session: 'c-1',
    parent: null,
    direction: 'outbound',
    service: 'db',
    protocol: 'pg',
    startedAt: new Date().toISOString(),
    durationMs: 0.4,
    tags: {},
    pg: {
      connection: 'c-1',
      seq,
      request: { kind: 'simple', sql },
      response: {
        results: [{ fields: [{ name: 'n', tableOid: 0, column: 0, typeOid: 23, typeSize: 4, typeMod: -1, format: 0 }], rows: [['1'], [{ b64: 'AAAAKg==' }], [null]], command: 'SELECT 3' }],
        error: null,
        notices: [],
        txStatus: 'I',
      },
    },
  };
}
