import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pool } from 'undici';
import { startAdminServer, type AdminServer } from '../../src/admin/server.js';
import { createAdminProviders } from '../../src/admin/types.js';
import { EXCHANGE_FORMAT_VERSION, type HttpExchange } from '../../src/core/exchange.js';
import { createLogger } from '../../src/core/logger.js';
import { createMetrics, type Metrics } from '../../src/metrics/metrics.js';
import { startHttpMock, type HttpMock } from '../../src/mock/http-mock.js';
import { DEFAULT_EXPLAIN_CANDIDATES } from '../../src/mock/http-miss-explainer.js';
import { metricValue, silentLogger } from '../helpers/http.js';

const SERVICE = 'miss-storm';
const RECORDINGS = 1001;
const KEEP = 50;
const LINES = 20;
// UUID segments: every recording shares one path template, the bucket a miss on that route searches
const uuid = (i: number) => `6f1c2b7a-0d4e-4a53-9b8f-${String(i).padStart(12, '0')}`;

function* recordings(): Generator<HttpExchange> {
  for (let i = 0; i < RECORDINGS; i++) {
    const id = `01JMISSSTORM${String(i).padStart(14, '0')}`;
    yield {
      v: EXCHANGE_FORMAT_VERSION,
      id,
      session: id,
      parent: null,
      direction: 'outbound',
      service: SERVICE,
      protocol: 'http',
      startedAt: '2026-11-26T13:00:00.000Z',
      durationMs: 1,
      http: {
        request: { method: 'GET', url: `/items/${uuid(i)}?view=full`, headers: [['accept', 'application/json']], body: '', bodyEncoding: 'utf8', truncated: false },
        response: { status: 200, headers: [['content-type', 'application/json']], body: JSON.stringify({ i }), bodyEncoding: 'utf8', truncated: false },
      },
      tags: {},
    };
  }
}

interface Answer {
  status: number;
  isUnmatched: boolean;
  body: { error?: string; nearest?: { id: string } | null };
}

/** Sends every path over `connections` keep-alive sockets, as fast as the mock answers. */
async function sendAll(pool: Pool, paths: readonly string[], connections: number): Promise<Answer[]> {
  const out: Answer[] = new Array<Answer>(paths.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < paths.length; i = next++) {
      const r = await pool.request({ method: 'GET', path: paths[i] as string });
      out[i] = { status: r.statusCode, isUnmatched: r.headers['x-doppel-unmatched'] === '1', body: (await r.body.json()) as Answer['body'] };
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  return out;
}

describe('a mock miss storm', () => {
  let mock: HttpMock;
  let admin: AdminServer;
  let metrics: Metrics;
  let pool: Pool;
  let logLines: () => Array<Record<string, unknown>>;

  beforeAll(async () => {
    metrics = createMetrics();
    const sink = silentLogger();
    logLines = sink.lines;
    mock = await startHttpMock({
      service: SERVICE,
      listen: '127.0.0.1:0',
      exchanges: recordings(),
      options: {
        latency: 'none',
        matchHeaders: [],
        ignore: [],
        valueClasses: true,
        maxBodyBytes: 64 * 1024,
        redactedQueryParams: [],
        redactedJsonPaths: [],
        unmatchedKeep: KEEP,
        // one interval for the whole test: the summary is written at close
        missLog: { intervalMs: 3_600_000, linesPerInterval: LINES },
      },
      log: sink.log,
      metrics,
    });
    const providers = createAdminProviders();
    providers.unmatched.push({ unmatched: () => mock.unmatched(), overflow: () => mock.unmatchedOverflow() });
    admin = await startAdminServer({ listen: '127.0.0.1:0', token: undefined, metrics, log: createLogger({ level: 'silent' }), providers });
    pool = new Pool(mock.url, { connections: 32, pipelining: 1 });
  });

  afterAll(async () => {
    await pool?.close();
    await admin?.close();
    await mock?.close();
  });

  it('answers every miss, counts it exactly, logs a bounded number of lines and bounds the search', async () => {
    // many keys first (more than are kept), then one key over and over, hits between
    const tail = Array.from({ length: 1000 }, (_, i) => `/refunds/ord_${i % 100}`);
    const fresh = Array.from({ length: 500 }, (_, i) => `/items/${uuid(5000 + i)}?view=compact`);
    const hot = Array.from({ length: 2000 }, () => '/refunds/ord_hot?view=full');
    const hits = Array.from({ length: 200 }, (_, i) => `/items/${uuid(i * 5)}?view=full`);
    const answers = [
      ...(await sendAll(pool, [...tail, ...fresh], 32)),
      ...(await sendAll(pool, hits, 32)),
      ...(await sendAll(pool, hot, 32)),
    ];
    const misses = tail.length + fresh.length + hot.length;
    const distinctKeys = 100 + fresh.length + 1;

    const missAnswers = answers.filter((a) => a.status === 404);
    expect(missAnswers).toHaveLength(misses);
    expect(answers.filter((a) => a.status === 200)).toHaveLength(hits.length);
    for (const a of missAnswers) {
      expect(a.isUnmatched).toBe(true);
      expect(a.body.error).toBe('unmatched');
      expect(a.body.nearest?.id).toMatch(/^01JMISSSTORM/);
    }

    expect(mock.counts()).toEqual({ matched: hits.length, unmatched: misses, passthrough: 0 });
    expect(await metricValue(metrics, 'doppel_mock_requests_total', { service: SERVICE, protocol: 'http', result: 'unmatched' })).toBe(misses);
    expect(await metricValue(metrics, 'doppel_mock_requests_total', { service: SERVICE, protocol: 'http', result: 'matched' })).toBe(hits.length);

    const listed = (await (await fetch(`${admin.url}/api/unmatched`)).json()) as {
      unmatched: Array<{ request: { url: string }; count: number; at: string; firstAt: string }>;
      overflow: number;
    };
    expect(listed.unmatched).toHaveLength(KEEP);
    expect(listed.unmatched.reduce((n, c) => n + c.count, 0) + listed.overflow).toBe(misses);
    expect(listed.overflow).toBeGreaterThan(0);
    const hotEntry = listed.unmatched.find((c) => c.request.url === '/refunds/ord_hot?view=full');
    expect(hotEntry?.count).toBe(hot.length);
    // the hot key was missed last: it is listed last, before it the last fresh keys to arrive (32 in flight may reorder them), once each
    expect(listed.unmatched.at(-1)).toBe(hotEntry);
    const lastFresh = new Set(fresh.slice(-(KEEP - 1 + 32)));
    for (const c of listed.unmatched.slice(0, -1)) {
      expect(lastFresh.has(c.request.url)).toBe(true);
      expect(c.count).toBe(1);
      expect(Date.parse(c.at)).toBeGreaterThanOrEqual(Date.parse(c.firstAt));
    }

    // each distinct miss is explained once (the cache holds them all), each explanation compares a bounded number
    const work = mock.missStats();
    expect(work.explainer.explained).toBe(distinctKeys);
    expect(work.explainer.cached).toBe(misses - distinctKeys);
    expect(work.explainer.compared).toBeLessThanOrEqual(DEFAULT_EXPLAIN_CANDIDATES * distinctKeys);
    expect(work.explainer.compared).toBeGreaterThanOrEqual(distinctKeys);

    await mock.close();
    const lines = logLines();
    const missLines = lines.filter((l) => l.msg === 'mock miss');
    expect(missLines).toHaveLength(LINES);
    const summaries = lines.filter((l) => l.msg === 'mock misses not logged one by one');
    expect(summaries).toHaveLength(1);
    expect(summaries[0]?.suppressed).toBe(misses - LINES);
    expect(mock.missStats().log).toEqual({ logged: LINES, suppressed: misses - LINES, summaries: 1 });
  });
});
