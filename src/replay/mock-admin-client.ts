/**
 * Mock-match figures from doppel mocks running in other processes: reset
 * their sequence state before the run, read doppel_mock_requests_total from
 * their /metrics at start and end, and hand the deltas to the judge.
 */
import { request } from 'undici';
import type { MockCounts } from '../gates/types.js';
import { DoppelError } from '../core/errors.js';

const SERIES = /^doppel_mock_requests_total\{([^}]*)\}\s+([0-9.eE+-]+)/;

/** Sums doppel_mock_requests_total by result from a Prometheus text exposition. */
export function parseMockCounts(text: string): MockCounts {
  const counts: MockCounts = { matched: 0, unmatched: 0, passthrough: 0 };
  for (const line of text.split('\n')) {
    const m = SERIES.exec(line);
    if (!m) continue;
    const result = /(?:^|,)\s*result="([^"]*)"/.exec(m[1] as string)?.[1];
    const v = Number(m[2]);
    if (!Number.isFinite(v)) continue;
    if (result === 'matched' || result === 'unmatched' || result === 'passthrough') counts[result] += v;
  }
  return counts;
}

export interface MockAdminClient {
  /** POST /api/mocks/reset on each mock, then reads the starting counts */
  start(): Promise<void>;
  /** counts since start() */
  delta(): Promise<MockCounts>;
}

export function createMockAdminClient(urls: readonly string[], token: string | undefined, timeoutMs = 5000): MockAdminClient {
  const auth = token === undefined ? {} : { authorization: `Bearer ${token}` };
  let base: MockCounts = { matched: 0, unmatched: 0, passthrough: 0 };
  const call = async (url: string, method: 'GET' | 'POST'): Promise<string> => {
    try {
      const res = await request(url, { method, headers: auth, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
      const text = await res.body.text();
      if (res.statusCode >= 400) throw new Error(`HTTP ${res.statusCode}`);
      return text;
    } catch (err) {
      throw new DoppelError('DOPPEL_UPSTREAM_UNAVAILABLE', `mock admin ${url}: ${(err as Error).message}`, { cause: err });
    }
  };
  const read = async (): Promise<MockCounts> => {
    const sum: MockCounts = { matched: 0, unmatched: 0, passthrough: 0 };
    for (const u of urls) {
      const c = parseMockCounts(await call(new URL('/metrics', u).href, 'GET'));
      sum.matched += c.matched;
      sum.unmatched += c.unmatched;
      sum.passthrough += c.passthrough;
    }
    return sum;
  };
  return {
    async start() {
      for (const u of urls) await call(new URL('/api/mocks/reset', u).href, 'POST');
      base = await read();
    },
    async delta() {
      const now = await read();
      return {
        matched: Math.max(0, now.matched - base.matched),
        unmatched: Math.max(0, now.unmatched - base.unmatched),
        passthrough: Math.max(0, now.passthrough - base.passthrough),
      };
    },
  };
}
