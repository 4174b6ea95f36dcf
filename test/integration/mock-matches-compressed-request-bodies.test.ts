/**
 * A dependency's calls with gzip, br and deflate request bodies are recorded
 * through the capture proxy (JSON paths redacted inside the compressed
 * bodies), then served by doppel's HTTP mock: live calls match by what their
 * bodies decode to, whatever the compressor produced, and get the recorded
 * bytes and headers back. A corrupt body or a bomb is a clear miss, counted,
 * and the mock keeps serving.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import zlib from 'node:zlib';
import { request } from 'undici';
import { startHttpCaptureProxy } from '../../src/capture/http-capture-proxy.js';
import { parseConfig } from '../../src/config/load.js';
import { decodeBody, type HttpExchange } from '../../src/core/exchange.js';
import { REDACTED_PREFIX } from '../../src/core/redact.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import type { HttpMock } from '../../src/mock/http-mock.js';
import { startHttpMockFromSpec } from '../../src/mock/start-http-mock.js';
import { createTestRecorder, metricValue, readExchanges, silentLogger, tempDir, TIMEOUTS } from '../helpers/http.js';
import { startZlibServer, type CompressingServer } from '../helpers/compressing-servers.js';
import { BOMB_INFLATED_BYTES, gzipBomb, memorySnapshot } from '../helpers/compression-bombs.js';

const CARD = '4111111111111111';
type Encode = (b: Buffer) => Buffer;
const codings: Record<string, Encode> = {
  gzip: (b) => zlib.gzipSync(b),
  br: (b) => zlib.brotliCompressSync(b),
  deflate: (b) => zlib.deflateSync(b),
};

function charge(amount: number): Record<string, unknown> {
  // a fresh idempotency key and timestamp on every call: value classes let them match their recording
  return { amount, card: { number: CARD }, idempotencyKey: randomUUID(), requestedAt: new Date().toISOString() };
}

async function post(base: string, path: string, body: Buffer, coding: string): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  const res = await request(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-encoding': coding, 'accept-encoding': coding },
    body,
  });
  return { status: res.statusCode, headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) };
}

describe('doppel mock matches compressed request bodies', () => {
  let dependency: CompressingServer;
  let traffic: { dir: string; cleanup: () => Promise<void> };
  let mock: HttpMock;
  const metrics = createMetrics();
  /** response bytes the service under test got while recording, by call */
  const recordedAnswers = new Map<string, Buffer>();
  let recordStageCorrupt = 0;

  beforeAll(async () => {
    dependency = await startZlibServer((req) => {
      const j = req.json as { amount?: number; charge?: string };
      if (req.url === '/refunds') return { json: { refunded: j.amount, charge: j.charge } };
      return { status: 201, json: { charged: j.amount, id: `ch_${j.amount}` } };
    });
    traffic = await tempDir('doppel-mock-coding-');
    const setup = await createTestRecorder(traffic.dir, { jsonPaths: ['$.card.number'] });
    const proxy = await startHttpCaptureProxy({
      listen: '127.0.0.1:0',
      target: dependency.url,
      service: 'payments',
      direction: 'outbound',
      sink: setup.recorder,
      maxBodyBytes: 1024 * 1024,
      timeouts: TIMEOUTS,
      rewriteHost: true,
      log: setup.log,
    });
    const calls: Array<[string, string, unknown]> = [
      ['/charges', 'gzip', charge(5)],
      ['/refunds', 'br', { charge: 'ch_5', amount: 5 }],
      ['/charges', 'deflate', charge(7)],
    ];
    for (const [path, coding, body] of calls) {
      const res = await post(proxy.url, path, (codings[coding] as Encode)(Buffer.from(JSON.stringify(body))), coding);
      expect(res.headers['content-encoding']).toBe(coding);
      recordedAnswers.set(`${path} ${coding}`, res.body);
    }
    // a body that does not decode is recorded as received (its JSON paths cannot be searched) and counted
    const audit = await post(proxy.url, '/audit', Buffer.from(`{"card":{"number":"${CARD}"}} but not gzip`), 'gzip');
    expect(audit.status).toBe(400);
    await setup.recorder.flush();
    recordStageCorrupt = await metricValue(setup.metrics, 'doppel_body_decode_failures_total', { stage: 'record', reason: 'corrupt' });
    await proxy.close(100);
    await setup.recorder.close();
    const config = parseConfig('redact:\n  json_paths: ["$.card.number"]\ncompare:\n  max_body_bytes: 1mb\n', 'test.yaml', {});
    mock = await startHttpMockFromSpec(
      {
        service: 'payments',
        listen: '127.0.0.1:0',
        listenFlag: 'mocks[payments].listen',
        traffic: [traffic.dir],
        target: undefined,
        stubs: [],
        latency: 'none',
        matchHeaders: [],
        maxBodyBytes: 16 * 1024 * 1024,
        unmatchedKeep: 10,
        recordOut: undefined,
      },
      { config, log: silentLogger().log, metrics, redactKey: undefined, cwd: process.cwd(), writers: new Map() },
    );
  });

  afterAll(async () => {
    await mock.close();
    await dependency.close();
    await traffic.cleanup();
  });

  it('records compressed request bodies in their coding, with the JSON paths redacted inside', async () => {
    const exchanges = await readExchanges(traffic.dir);
    expect(exchanges).toHaveLength(4);
    const audit = exchanges.find((e) => e.http.request.url === '/audit') as HttpExchange;
    expect(decodeBody(audit.http.request.body, audit.http.request.bodyEncoding).toString('utf8')).toContain('but not gzip');
    expect(recordStageCorrupt).toBe(1);
    // the dependency decoded every body it was sent: the proxy forwarded the bytes untouched
    expect(dependency.seen.map((s) => (s.json as { amount: number }).amount)).toEqual([5, 5, 7]);
    const first = exchanges.find((e) => e.http.request.url === '/charges' && e.http.request.headers.some(([k, v]) => k.toLowerCase() === 'content-encoding' && v === 'gzip')) as HttpExchange;
    const stored = decodeBody(first.http.request.body, first.http.request.bodyEncoding);
    const doc = JSON.parse(zlib.gunzipSync(stored).toString('utf8')) as { amount: number; card: { number: string } };
    expect(doc.amount).toBe(5);
    expect(doc.card.number.startsWith(REDACTED_PREFIX)).toBe(true);
    expect(zlib.gunzipSync(stored).includes(CARD)).toBe(false);
    const deflated = exchanges.find((e) => e.http.request.headers.some(([, v]) => v === 'deflate')) as HttpExchange;
    expect(zlib.inflateSync(decodeBody(deflated.http.request.body, deflated.http.request.bodyEncoding)).includes(CARD)).toBe(false);
  });

  it('answers a gzip call with the recorded bytes and headers, whatever the compressor produced', async () => {
    // another compression level and key order than the recording: other bytes, same meaning
    const body = zlib.gzipSync(Buffer.from(JSON.stringify({ requestedAt: new Date().toISOString(), ...charge(5) })), { level: 1 });
    const res = await post(mock.url, '/charges', body, 'gzip');
    expect(res.status).toBe(201);
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(res.body.equals(recordedAnswers.get('/charges gzip') as Buffer)).toBe(true);
    expect(JSON.parse(zlib.gunzipSync(res.body).toString('utf8'))).toEqual({ charged: 5, id: 'ch_5' });
  });

  it('matches br and deflate bodies by what they decode to', async () => {
    const refund = await post(mock.url, '/refunds', zlib.brotliCompressSync(Buffer.from(JSON.stringify({ amount: 5, charge: 'ch_5' }))), 'br');
    expect(refund.status).toBe(200);
    expect(refund.body.equals(recordedAnswers.get('/refunds br') as Buffer)).toBe(true);
    const seven = await post(mock.url, '/charges', zlib.deflateRawSync(Buffer.from(JSON.stringify(charge(7)))), 'deflate');
    expect(seven.status).toBe(201);
    expect(JSON.parse(zlib.inflateSync(seven.body).toString('utf8'))).toEqual({ charged: 7, id: 'ch_7' });
  });

  it('explains a miss inside a compressed body by the differing JSON path', async () => {
    const res = await post(mock.url, '/charges', zlib.gzipSync(Buffer.from(JSON.stringify(charge(9)))), 'gzip');
    expect(res.status).toBe(404);
    expect(res.headers['x-doppel-unmatched']).toBe('1');
    const why = JSON.parse(res.body.toString('utf8')) as { differences: Array<{ part: string; actual: { differingPaths?: string[] } }> };
    expect(why.differences).toEqual([{ part: 'body', expected: 'JSON as recorded', actual: { differingPaths: ['$.amount'] } }]);
  });

  it('answers a corrupt compressed body and a bomb with a clear miss, counts them, and keeps serving', async () => {
    const corrupt = await post(mock.url, '/charges', Buffer.from('definitely not gzip'), 'gzip');
    expect(corrupt.status).toBe(404);
    const why = JSON.parse(corrupt.body.toString('utf8')) as { differences: Array<{ part: string; actual: { notDecoded?: string } }> };
    expect(why.differences.find((d) => d.part === 'body')?.actual.notDecoded).toContain('gzip body does not decode');
    expect(await metricValue(metrics, 'doppel_body_decode_failures_total', { stage: 'mock', reason: 'corrupt' })).toBe(1);

    const before = memorySnapshot();
    const bomb = await post(mock.url, '/charges', gzipBomb(), 'gzip');
    const after = memorySnapshot();
    expect(bomb.status).toBe(404);
    expect(JSON.parse(bomb.body.toString('utf8')).differences.find((d: { part: string }) => d.part === 'body').actual.notDecoded).toContain('inflates past the decode cap of 1048576 bytes');
    expect(await metricValue(metrics, 'doppel_body_decode_failures_total', { stage: 'mock', reason: 'over_limit' })).toBe(1);
    expect(after.rss - before.rss).toBeLessThan(BOMB_INFLATED_BYTES / 4);

    const again = await post(mock.url, '/charges', zlib.gzipSync(Buffer.from(JSON.stringify(charge(5)))), 'gzip');
    expect(again.status).toBe(201);
    expect(mock.counts()).toEqual({ matched: 4, unmatched: 3, passthrough: 0 });
  });
});
