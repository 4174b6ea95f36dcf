/**
 * The amplification rule: for an input of N bytes, doppel holds at most
 * 100·N bytes. Each class of input is sent for real to doppel started
 * in-process, and the bytes held (heap plus array buffers, measured after a
 * full collection while the input is held, or as the peak while it is
 * processed) are held to 100·N. The limits that make it so (README, "Limits")
 * answer as documented on the way.
 */
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { startHttpCaptureProxy, type HttpCaptureProxy } from '../../src/capture/http-capture-proxy.js';
import { startPgRecorder } from '../../src/capture/pg-recorder.js';
import { parseConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/core/clock.js';
import { createLogger } from '../../src/core/logger.js';
import { createMetrics, type Metrics } from '../../src/metrics/metrics.js';
import { startPgMock } from '../../src/mock/pg/server.js';
import { runReplay } from '../../src/replay/run-replay.js';
import type { ExchangeWriter } from '../../src/store/types.js';
import { gzipBomb } from '../helpers/compression-bombs.js';
import { httpExchange, pgExchange } from '../helpers/exchanges.js';
import { heldBytes, peakHeldDuring } from '../helpers/held-resources.js';
import { startHeldPeer, startPeer } from '../helpers/shadow-peers.js';
import { until } from '../helpers/until.js';

const silent = () => createLogger({ level: 'silent' });
const AMPLIFICATION = 100;
const timeouts = { headersMs: 5_000, requestMs: 10_000, keepAliveMs: 5_000, upstreamMs: 10_000 };

async function counter(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number> {
  const m = metrics.registry.getSingleMetric(name);
  const vals = (await m?.get())?.values ?? [];
  return vals.filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want)).reduce((n, v) => n + v.value, 0);
}

function rawConnect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.on('error', reject);
  });
}

function closed(s: Socket): Promise<void> {
  return new Promise((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve())));
}

/** Reads what comes back on `s` until it closes. */
function readAll(s: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  return closed(s).then(() => Buffer.concat(chunks));
}

function pgStartup(): Buffer {
  const params = Buffer.from('user\0postgres\0database\0test\0\0');
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + params.length, 0);
  head.writeInt32BE(196608, 4);
  return Buffer.concat([head, params]);
}

function pgQuery(sql: string): Buffer {
  const text = Buffer.from(`${sql}\0`);
  const head = Buffer.alloc(5);
  head[0] = 0x51;
  head.writeInt32BE(4 + text.length, 1);
  return Buffer.concat([head, text]);
}

/** Connects, starts up and waits for the first ReadyForQuery. */
async function pgReady(port: number): Promise<Socket> {
  const s = await rawConnect(port);
  s.write(pgStartup());
  await new Promise<void>((resolve) => {
    let seen = Buffer.alloc(0);
    const onData = (c: Buffer) => {
      seen = Buffer.concat([seen, c]);
      if (seen.includes(Buffer.from([0x5a, 0, 0, 0, 5]))) {
        s.off('data', onData);
        resolve();
      }
    };
    s.on('data', onData);
  });
  return s;
}

const nullWriter: ExchangeWriter = { append: () => Promise.resolve(), flush: () => Promise.resolve(), close: () => Promise.resolve(), bytesWritten: 0 };

describe('amplification: doppel holds at most 100·N for an input of N bytes', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function proxyTo(url: string, extra: { maxHeaderBytes?: number; maxConnections?: number } = {}): Promise<{ proxy: HttpCaptureProxy; metrics: Metrics }> {
    const metrics = createMetrics();
    const proxy = await startHttpCaptureProxy({
      listen: '127.0.0.1:0',
      target: url,
      service: 'app',
      direction: 'inbound',
      maxBodyBytes: 1024 * 1024,
      timeouts,
      limits: { maxHeaderBytes: extra.maxHeaderBytes ?? 16 * 1024, maxConnections: extra.maxConnections ?? 10_000 },
      rewriteHost: false,
      log: silent(),
      metrics,
    });
    cleanup.push(() => proxy.close(200));
    return { proxy, metrics };
  }

  it('huge headers: 1 MB of head is refused at record.max_header_bytes with 431, counted, nothing held', async () => {
    const upstream = await startPeer((_req, _body, res) => res.end('ok'));
    cleanup.push(() => upstream.close());
    const { proxy, metrics } = await proxyTo(upstream.url);
    const port = Number(new URL(proxy.url).port);
    const N = 1024 * 1024;
    const { value: answer, peak } = await peakHeldDuring(async () => {
      const s = await rawConnect(port);
      const answered = readAll(s);
      s.on('error', () => undefined);
      s.write(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(N)}\r\n\r\n`);
      return (await answered).toString('latin1');
    });
    expect(answer.startsWith('HTTP/1.1 431 ')).toBe(true);
    expect(await counter(metrics, 'doppel_http_bad_requests_total', { reason: 'too_large' })).toBe(1);
    expect(upstream.seen).toHaveLength(0);
    expect(peak).toBeLessThan(AMPLIFICATION * N);
  });

  it('many small headers: 200 requests of 500 headers each, held by the upstream, stay within 100·N', async () => {
    const upstream = await startHeldPeer((_req, _body, res) => res.end('ok'));
    cleanup.push(async () => {
      upstream.release();
      await upstream.close();
    });
    const { proxy } = await proxyTo(upstream.url, { maxHeaderBytes: 64 * 1024 });
    const headers: Record<string, string> = { connection: 'close' };
    for (let i = 0; i < 500; i++) headers[`x-h${i}`] = 'v';
    const REQUESTS = 200;
    const headBytes = Object.entries(headers).reduce((n, [k, v]) => n + k.length + v.length + 4, 40);
    const N = REQUESTS * headBytes;
    const base = await heldBytes();
    const answers = Array.from(
      { length: REQUESTS },
      () =>
        new Promise<number>((resolve, reject) => {
          const req = httpRequest(`${proxy.url}/x`, { agent: false, headers }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          });
          req.on('error', reject);
          req.end();
        }),
    );
    await until('every request held by the upstream', () => upstream.held === REQUESTS, 30_000);
    // Held inside doppel now: every request's head, its upstream request and both sockets.
    const held = (await heldBytes()) - base;
    upstream.release();
    expect(await Promise.all(answers)).toEqual(Array.from({ length: REQUESTS }, () => 200));
    expect(upstream.seen[0]?.headers['x-h499']).toBe('v');
    expect(held).toBeLessThan(AMPLIFICATION * N);
  });

  it('deeply nested JSON: a 200 KB body of 100,000 nested arrays is judged (as bytes, flagged) within 100·N', async () => {
    const deep = (leaf: string) => '['.repeat(100_000) + leaf + ']'.repeat(100_000);
    const target = await startPeer((_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(deep('2'));
    });
    cleanup.push(() => target.close());
    // httpExchange records Content-Type: application/json
    const recorded = httpExchange({ url: '/deep', status: 200, body: deep('1') });
    const N = 2 * deep('1').length;
    const cfg = parseConfig('', 'amp.yaml', {});
    const { value: res, peak } = await peakHeldDuring(() =>
      runReplay(
        {
          replay: { ...cfg.replay, target: target.url, time_scale: 1000 },
          reader: {
            read: async function* () {
              yield recorded;
            },
          },
          compare: cfg.compare,
          gates: {},
          cutoffs: cfg.cutoffs,
          vars: {},
        },
        { log: silent(), metrics: createMetrics(), clock: systemClock },
      ),
    );
    expect(res.counts).toMatchObject({ sent: 1, failed: 1, errors: 0 });
    expect(peak).toBeLessThan(AMPLIFICATION * N);
  });

  it('compressed bodies: a 1 MB gzip bomb (1 GiB inflated) is judged within 100·N, cut at compare.max_body_bytes', async () => {
    const bomb = gzipBomb();
    const target = await startPeer((_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(bomb);
    });
    cleanup.push(() => target.close());
    const recorded = httpExchange({ url: '/bomb', status: 200 });
    const response = recorded.http.response;
    if (response === null) throw new Error('fixture without a response');
    response.headers.push(['Content-Encoding', 'gzip']);
    response.body = gzipSync('{"a":1}').toString('base64');
    response.bodyEncoding = 'base64';
    const N = bomb.length;
    const cfg = parseConfig('', 'amp.yaml', {});
    const metrics = createMetrics();
    const { value: res, peak } = await peakHeldDuring(() =>
      runReplay(
        {
          replay: { ...cfg.replay, target: target.url, time_scale: 1000 },
          reader: {
            read: async function* () {
              yield recorded;
            },
          },
          compare: { ...cfg.compare, max_body_bytes: 2 * 1024 * 1024 },
          gates: {},
          cutoffs: cfg.cutoffs,
          vars: {},
        },
        { log: silent(), metrics, clock: systemClock },
      ),
    );
    expect(res.counts).toMatchObject({ sent: 1, errors: 0 });
    expect(peak).toBeLessThan(AMPLIFICATION * N);
  });

  it('a large declared Postgres message: 64 KB of a 15 MB message held by the mock within 100·N; 1 GB declared is refused on sight', async () => {
    const mock = await startPgMock({ service: 'db', listen: { host: '127.0.0.1', port: 0 }, exchanges: [pgExchange('SELECT 1', 1)], log: silent(), metrics: createMetrics() });
    cleanup.push(() => mock.close());
    const s = await pgReady(mock.address.port);
    cleanup.push(async () => {
      s.destroy();
      await closed(s);
    });
    const base = await heldBytes();
    const head = Buffer.alloc(5);
    head[0] = 0x51;
    head.writeInt32BE(15 * 1024 * 1024, 1);
    const part = Buffer.concat([head, Buffer.alloc(64 * 1024, 0x61)]);
    await new Promise<void>((resolve) => s.write(part, () => resolve()));
    // Loopback bytes are in the mock's socket once written; a whole round trip on a second
    // connection after that means the mock's loop has read them too.
    const t = await pgReady(mock.address.port);
    const held = (await heldBytes()) - base;
    expect(held).toBeLessThan(AMPLIFICATION * part.length);

    const huge = Buffer.alloc(5);
    huge[0] = 0x51;
    huge.writeInt32BE(1024 * 1024 * 1024, 1);
    t.write(huge);
    // postgres.c: a message over the limit closes the connection without a reply.
    expect((await readAll(t)).length).toBe(0);
  });

  it('many pipelined Postgres messages: 20,000 queries sent at once, answers unread, stay within 100·N and all get answered', async () => {
    const mock = await startPgMock({ service: 'db', listen: { host: '127.0.0.1', port: 0 }, exchanges: [pgExchange('SELECT 1', 1)], log: silent(), metrics: createMetrics() });
    cleanup.push(() => mock.close());
    const s = await pgReady(mock.address.port);
    cleanup.push(async () => {
      s.destroy();
      await closed(s);
    });
    const COUNT = 20_000;
    const batch = Buffer.concat(Array.from({ length: COUNT }, () => pgQuery('SELECT 1')));
    s.pause();
    const base = await heldBytes();
    await new Promise<void>((resolve) => s.write(batch, () => resolve()));
    // Every query answered into the socket while nobody reads.
    await until('the mock answered every query', () => mock.stats().matched === COUNT, 30_000);
    const held = (await heldBytes()) - base;
    let readies = 0;
    const ready = Buffer.from([0x5a, 0, 0, 0, 5]);
    let tail = Buffer.alloc(0);
    s.on('data', (c: Buffer) => {
      const buf = Buffer.concat([tail, c]);
      for (let i = buf.indexOf(ready); i !== -1; i = buf.indexOf(ready, i + 5)) readies++;
      // 4 bytes, not 5: a whole ReadyForQuery in the tail was counted already; one begun there was not.
      tail = buf.subarray(Math.max(0, buf.length - 4));
    });
    s.resume();
    await until('every query answered', () => readies >= COUNT, 30_000);
    expect(readies).toBe(COUNT);
    expect(held).toBeLessThan(AMPLIFICATION * batch.length);
  });

  it('many idle connections: record.max_connections caps what is held, the rest are closed and counted; the pg limits answer as PostgreSQL does', async () => {
    const upstream = await startPeer((_req, _body, res) => res.end('ok'));
    cleanup.push(() => upstream.close());
    const CAP = 100;
    const { proxy, metrics } = await proxyTo(upstream.url, { maxConnections: CAP });
    const port = Number(new URL(proxy.url).port);
    const base = await heldBytes();
    const socks = await Promise.all(Array.from({ length: CAP * 2 }, () => rawConnect(port)));
    for (const s of socks) s.on('error', () => undefined);
    cleanup.push(async () => {
      for (const s of socks) s.destroy();
      await Promise.all(socks.map(closed));
    });
    await until('the connections over the cap closed', async () => (await counter(metrics, 'doppel_http_bad_requests_total', { reason: 'too_many_connections' })) === CAP);
    await until('their sockets closed', () => socks.filter((s) => s.destroyed || s.readableEnded).length === CAP);
    const held = (await heldBytes()) - base;
    // Per connection, what a client spends to open one: SYN and ACK, 40 bytes of IP and TCP headers each at least.
    expect(held).toBeLessThan(AMPLIFICATION * socks.length * 80);

    const mock = await startPgMock({
      service: 'db',
      listen: { host: '127.0.0.1', port: 0 },
      exchanges: [],
      log: silent(),
      metrics: createMetrics(),
      loginTimeoutMs: 200,
      maxConnections: 1,
    });
    cleanup.push(() => mock.close());
    const idle = await rawConnect(mock.address.port);
    const idleAnswer = readAll(idle);
    const over = await rawConnect(mock.address.port);
    const overAnswer = (await readAll(over)).toString('latin1');
    expect(overAnswer).toContain('53300');
    expect(overAnswer).toContain('too many clients');
    const timedOut = (await idleAnswer).toString('latin1');
    expect(timedOut).toContain('57014');
    expect(timedOut).toContain('canceling authentication due to timeout');

    const relay = await startPgRecorder({
      service: 'db',
      listen: { host: '127.0.0.1', port: 0 },
      target: { host: '127.0.0.1', port: mock.address.port },
      writer: nullWriter,
      log: silent(),
      metrics: createMetrics(),
      loginTimeoutMs: 200,
    });
    cleanup.push(() => relay.close());
    const silentClient = await rawConnect(relay.address.port);
    expect((await readAll(silentClient)).length).toBe(0);
  });
});
