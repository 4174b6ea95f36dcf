import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { gzipSync } from 'node:zlib';
import { randomBytes, randomUUID } from 'node:crypto';
import { appendFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startHttpCaptureProxy, type HttpCaptureProxy } from '../../src/capture/http-capture-proxy.js';
import { startHttpMock, type HttpMock, type HttpMockOptions } from '../../src/mock/http-mock.js';
import { createFileStoreReader } from '../../src/store/file-store.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { parseWireMockStubs } from '../../src/mock/wiremock-stubs.js';
import { createTestRecorder, metricValue, rawExchange, silentLogger, startUpstream, tempDir, TIMEOUTS, type RecorderSetup, type Upstream } from '../helpers/http.js';

const binary = randomBytes(3000);
const gz = gzipSync(Buffer.from(JSON.stringify({ items: Array.from({ length: 50 }, (_, i) => ({ i })) })));
const trace = (n: number) => `00-${String(n).padStart(32, '0')}-00f067aa0ba902b7-01`;

const baseOptions: HttpMockOptions = {
  latency: 'none',
  matchHeaders: [],
  ignore: ['$.requestedAt'],
  valueClasses: true,
  maxBodyBytes: 64 * 1024,
  redactedQueryParams: [],
  redactedJsonPaths: [],
  unmatchedKeep: 100,
};

async function send(url: string, opts: { method?: string; body?: string | Buffer; headers?: Record<string, string> } = {}) {
  const r = await request(url, { method: (opts.method ?? 'GET') as 'GET', ...(opts.body === undefined ? {} : { body: opts.body }), ...(opts.headers === undefined ? {} : { headers: opts.headers }) });
  const body = Buffer.from(await r.body.arrayBuffer());
  return { status: r.statusCode, headers: r.headers, body };
}

describe('mock replays recordings', () => {
  let upstream: Upstream;
  let dep: HttpCaptureProxy;
  let setup: RecorderSetup;
  let cleanup: () => Promise<void>;
  let dir: string;
  let counter = 0;
  const recorded: Record<string, { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> = {};
  const mocks: HttpMock[] = [];

  beforeAll(async () => {
    const t = await tempDir();
    cleanup = t.cleanup;
    dir = t.dir;
    upstream = await startUpstream((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const u = req.url ?? '';
        if (u === '/binary') {
          res.writeHead(200, ['Content-Type', 'application/octet-stream', 'X-Multi', 'a', 'X-Multi', 'b']);
          res.end(binary);
        } else if (u === '/gzip') {
          res.writeHead(200, ['Content-Type', 'application/json', 'Content-Encoding', 'gzip', 'Content-Length', String(gz.length)]);
          res.end(gz);
        } else if (u === '/counter') {
          counter++;
          res.writeHead(200, ['Content-Type', 'application/json', 'Set-Cookie', `n=${counter}; Path=/`]);
          res.end(JSON.stringify({ n: counter }));
        } else if (u.startsWith('/charge')) {
          const body = JSON.parse(Buffer.concat(chunks).toString() || '{}');
          res.writeHead(201, ['Content-Type', 'application/json', 'Connection', 'X-Hop', 'X-Hop', '1']);
          res.end(JSON.stringify({ charged: body.amount, id: `ch_${body.amount}` }));
        } else if (u === '/traced') {
          res.writeHead(200, ['Content-Type', 'text/plain']);
          res.end(`trace-${req.headers['x-n'] as string}`);
        } else {
          res.writeHead(200, ['Content-Type', 'text/plain']);
          res.end(`hello ${u}`);
        }
      });
    });
    setup = await createTestRecorder(dir);
    dep = await startHttpCaptureProxy({
      listen: '127.0.0.1:0', target: upstream.url, service: 'payments', direction: 'outbound', sink: setup.recorder,
      maxBodyBytes: 1024 * 1024, timeouts: TIMEOUTS, rewriteHost: true, log: setup.log,
    });
    const calls: Array<[string, Parameters<typeof send>[1]]> = [
      ['/binary', {}],
      ['/gzip', {}],
      ['/counter', {}],
      ['/counter', {}],
      ['/counter', {}],
      ['/charge?currency=eur&mode=live', { method: 'POST', body: JSON.stringify({ amount: 5, idempotencyKey: randomUUID(), requestedAt: 'x' }), headers: { 'content-type': 'application/json' } }],
      ['/traced', { headers: { traceparent: trace(1), 'x-n': 'one' } }],
      ['/traced', { headers: { traceparent: trace(2), 'x-n': 'two' } }],
      ['/weird', { method: 'PUT', body: Buffer.from([0, 1, 2, 255]), headers: { 'content-type': 'application/x-weird' } }],
    ];
    for (const [path, o] of calls) {
      const r = await send(dep.url + path, o);
      recorded[`${o?.method ?? 'GET'} ${path}#${Object.keys(recorded).length}`] = r;
    }
    await dep.close(100);
    await setup.recorder.close();
  });

  afterAll(async () => {
    for (const m of mocks) await m.close();
    await upstream.close();
    await cleanup();
  });

  async function startMock(extra: Partial<HttpMockOptions> = {}, stubs = '[]', metrics = createMetrics()) {
    const mock = await startHttpMock({
      service: 'payments',
      listen: '127.0.0.1:0',
      exchanges: createFileStoreReader([dir]).read(),
      stubs: parseWireMockStubs(stubs, 'stubs.json'),
      options: { ...baseOptions, ...extra },
      log: silentLogger().log,
      metrics,
    });
    mocks.push(mock);
    return mock;
  }

  it('returns recorded status, headers and bodies byte for byte, binary and gzip included', async () => {
    const mock = await startMock();
    const bin = await send(`${mock.url}/binary`);
    expect(bin.status).toBe(200);
    expect(bin.body.equals(binary)).toBe(true);
    expect(bin.headers['x-multi']).toEqual(['a', 'b']);
    const g = await send(`${mock.url}/gzip`);
    expect(g.headers['content-encoding']).toBe('gzip');
    expect(g.body.equals(gz)).toBe(true);
    const c = await send(`${mock.url}/charge?mode=live&currency=eur`, {
      method: 'POST',
      body: JSON.stringify({ requestedAt: 'y', idempotencyKey: randomUUID(), amount: 5 }),
    });
    expect(c.status).toBe(201);
    expect(JSON.parse(c.body.toString())).toEqual({ charged: 5, id: 'ch_5' });
    // hop-by-hop headers of the recording are not replayed
    expect(c.headers['x-hop']).toBeUndefined();
    const w = await send(`${mock.url}/weird`, { method: 'PUT', body: Buffer.from([0, 1, 2, 255]), headers: { 'content-type': 'application/x-weird' } });
    expect(w.body.toString()).toBe('hello /weird');
    expect(mock.counts()).toEqual({ matched: 4, unmatched: 0, passthrough: 0 });
  });

  it('answers repeated calls in recorded order, repeats the last, and starts over on reset', async () => {
    const mock = await startMock();
    const ns = [];
    for (let i = 0; i < 4; i++) ns.push(JSON.parse((await send(`${mock.url}/counter`)).body.toString()).n);
    expect(ns).toEqual([1, 2, 3, 3]);
    const cookie = (await startMock().then((m) => send(`${m.url}/counter`))).headers['set-cookie'];
    // Set-Cookie was redacted at capture: the placeholder is served, never the secret
    expect(String(cookie)).toMatch(/^n=redacted:hmac:[0-9a-f]{16}; Path=\/$/);
    mock.reset();
    expect(JSON.parse((await send(`${mock.url}/counter`)).body.toString()).n).toBe(1);
  });

  it('scopes sequences per trace when the call carries a recorded traceparent', async () => {
    const mock = await startMock();
    expect((await send(`${mock.url}/traced`, { headers: { traceparent: trace(2) } })).body.toString()).toBe('trace-two');
    expect((await send(`${mock.url}/traced`, { headers: { traceparent: trace(1) } })).body.toString()).toBe('trace-one');
    // no traceparent: global recorded order
    expect((await send(`${mock.url}/traced`)).body.toString()).toBe('trace-one');
    expect((await send(`${mock.url}/traced`)).body.toString()).toBe('trace-two');
  });

  it('explains a miss with the nearest recorded request, lists and counts it', async () => {
    const metrics = createMetrics();
    const mock = await startMock({}, '[]', metrics);
    const r = await send(`${mock.url}/charge?currency=usd&mode=live`, { method: 'POST', body: JSON.stringify({ amount: 6, idempotencyKey: randomUUID() }) });
    expect(r.status).toBe(404);
    expect(r.headers['x-doppel-unmatched']).toBe('1');
    const why = JSON.parse(r.body.toString());
    expect(why.nearest.url).toBe('/charge?currency=eur&mode=live');
    expect(why.differences.map((d: { part: string }) => d.part).sort()).toEqual(['body', 'query']);
    const body = why.differences.find((d: { part: string }) => d.part === 'body');
    expect(body.actual.differingPaths).toContain('$.amount');
    expect(mock.unmatched()).toHaveLength(1);
    expect(mock.unmatched()[0]?.request.url).toBe('/charge?currency=usd&mode=live');
    expect(await metricValue(metrics, 'doppel_mock_requests_total', { service: 'payments', protocol: 'http', result: 'unmatched' })).toBe(1);
  });

  it('layers stubs by priority: low numbers override recordings, defaults fill gaps, faults fire', async () => {
    const stubs = JSON.stringify({
      mappings: [
        { priority: 1, request: { method: 'GET', urlPath: '/binary' }, response: { status: 503, jsonBody: { down: true } } },
        { request: { method: 'GET', urlPath: '/counter' }, response: { status: 200, body: 'never: recordings win' } },
        { request: { method: 'POST', urlPathPattern: '/refund/[0-9]+', bodyPatterns: [{ equalToJson: { amount: 1 }, ignoreExtraElements: true }] }, response: { status: 202, body: 'refunded', headers: { 'X-Stub': 'yes' } } },
        { request: { urlPath: '/reset' }, response: { fault: 'CONNECTION_RESET_BY_PEER' } },
        { request: { urlPath: '/empty' }, response: { fault: 'EMPTY_RESPONSE' } },
        { request: { urlPath: '/slow', queryParameters: { x: { equalTo: '1' } } }, response: { status: 200, body: 'late', fixedDelayMilliseconds: 50 } },
      ],
    });
    const mock = await startMock({}, stubs);
    expect((await send(`${mock.url}/binary`)).status).toBe(503);
    expect(JSON.parse((await send(`${mock.url}/counter`)).body.toString()).n).toBe(1);
    const refund = await send(`${mock.url}/refund/42`, { method: 'POST', body: JSON.stringify({ amount: 1, note: 'x' }) });
    expect(refund.status).toBe(202);
    expect(refund.headers['x-stub']).toBe('yes');
    expect((await send(`${mock.url}/refund/42`, { method: 'POST', body: JSON.stringify({ amount: 2 }) })).status).toBe(404);
    expect((await send(`${mock.url}/slow?x=1`)).body.toString()).toBe('late');
    await expect(send(`${mock.url}/reset`)).rejects.toThrow();
    await expect(send(`${mock.url}/empty`)).rejects.toThrow();
    const port = Number(mock.address.split(':')[1]);
    const raw = await rawExchange(port, 'GET /empty HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(raw).toEqual({ text: '', closed: true });
  });

  it('accepts any content type, refuses bodies over the cap with 413', async () => {
    const mock = await startMock({ maxBodyBytes: 1000 });
    expect((await send(`${mock.url}/weird`, { method: 'PUT', body: Buffer.from([0, 1, 2, 255]), headers: { 'content-type': 'application/x-weird' } })).status).toBe(200);
    const big = await send(`${mock.url}/weird`, { method: 'PUT', body: Buffer.alloc(5000), headers: { 'content-type': 'application/x-weird' } });
    expect(big.status).toBe(413);
  });

  it('passes misses through to the target, records them, and matches them next time', async () => {
    const out = await tempDir();
    try {
      const { createFileStoreWriter } = await import('../../src/store/file-store.js');
      const { createRedactor } = await import('../../src/core/redact.js');
      const writer = await createFileStoreWriter({ dir: out.dir, flushIntervalMs: 5 });
      const mock = await startHttpMock({
        service: 'payments',
        listen: '127.0.0.1:0',
        exchanges: createFileStoreReader([dir]).read(),
        options: { ...baseOptions, target: upstream.url },
        recordTo: { writer, redactor: createRedactor({ key: Buffer.from('k') }) },
        log: silentLogger().log,
        metrics: createMetrics(),
      });
      mocks.push(mock);
      const first = await send(`${mock.url}/new-thing`, { headers: { authorization: 'Bearer live-secret' } });
      expect(first.body.toString()).toBe('hello /new-thing');
      const second = await send(`${mock.url}/new-thing`);
      expect(second.body.toString()).toBe('hello /new-thing');
      expect(mock.counts()).toEqual({ matched: 1, unmatched: 0, passthrough: 1 });
      await writer.close();
      const saved = [];
      for await (const ex of createFileStoreReader([out.dir]).read()) saved.push(ex);
      expect(saved).toHaveLength(1);
      expect(saved[0]?.service).toBe('payments');
      expect(JSON.stringify(saved[0])).not.toContain('live-secret');
    } finally {
      await out.cleanup();
    }
  });

  it('serves the rest of a traffic file with corrupt lines and reports them', async () => {
    const seg = (await readdir(dir)).find((f) => f.endsWith('.ndjson')) as string;
    const t = await tempDir();
    try {
      const { copyFile } = await import('node:fs/promises');
      await copyFile(join(dir, seg), join(t.dir, seg));
      await copyFile(join(dir, 'manifest.json'), join(t.dir, 'manifest.json'));
      await appendFile(join(t.dir, seg), '{"v":1,"id":"broken",\nnot json at all\n');
      const corrupt: string[] = [];
      const mock = await startHttpMock({
        service: 'payments',
        listen: '127.0.0.1:0',
        exchanges: createFileStoreReader([t.dir]).read({ onCorrupt: (r) => corrupt.push(`${r.source}:${r.line}`) }),
        options: baseOptions,
        log: silentLogger().log,
        metrics: createMetrics(),
      });
      mocks.push(mock);
      expect(corrupt).toHaveLength(2);
      expect(corrupt[0]).toMatch(/exchanges-000001\.ndjson:\d+$/);
      expect((await send(`${mock.url}/binary`)).body.equals(binary)).toBe(true);
    } finally {
      await t.cleanup();
    }
  });
});
