/** Recorded exchanges and bodies shared by the HTTP benches. */
import { EXCHANGE_FORMAT_VERSION, type HttpExchange } from '../src/core/exchange.js';
import type { HttpMockOptions } from '../src/mock/http-mock.js';

export const BENCH_BODY = Buffer.from(
  JSON.stringify({ id: 'ord_1', status: 'paid', total: 42.5, currency: 'EUR', items: [{ sku: 'A-1', qty: 2 }, { sku: 'B-7', qty: 1 }], note: 'x'.repeat(120) }),
);

export function benchPath(i: number): string {
  return `/items/${i}?view=full`;
}

/** n distinct recorded GET exchanges of one service, ~700 bytes of NDJSON each. */
export function* benchExchanges(n: number): Generator<HttpExchange> {
  for (let i = 0; i < n; i++) {
    const id = `01JBENCH${String(i).padStart(18, '0')}`;
    yield {
      v: EXCHANGE_FORMAT_VERSION,
      id,
      session: id,
      parent: null,
      direction: 'outbound',
      service: 'bench',
      protocol: 'http',
      startedAt: '2026-11-26T13:00:00.000Z',
      durationMs: 3.2,
      http: {
        request: {
          method: 'GET',
          url: benchPath(i),
          headers: [['host', 'payments.internal'], ['accept', 'application/json'], ['user-agent', 'orders/1.0']],
          body: '',
          bodyEncoding: 'utf8',
          truncated: false,
        },
        response: {
          status: 200,
          headers: [['Content-Type', 'application/json'], ['Date', 'Thu, 26 Nov 2026 13:00:00 GMT'], ['Content-Length', '0']],
          body: JSON.stringify({ id: `item-${i}`, status: 'in_stock', price: 10 + (i % 90), tags: ['a', 'b'], note: 'y'.repeat(100) }),
          bodyEncoding: 'utf8',
          truncated: false,
        },
      },
      tags: {},
    };
  }
}

/** The HTTP mock as every bench runs it: exact matching, no simulated latency, no redaction. */
export function benchMockOptions(unmatchedKeep: number): HttpMockOptions {
  return {
    latency: 'none',
    matchHeaders: [],
    ignore: [],
    valueClasses: true,
    maxBodyBytes: 16 * 1024 * 1024,
    redactedQueryParams: [],
    redactedJsonPaths: [],
    unmatchedKeep,
  };
}
