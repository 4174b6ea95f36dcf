/**
 * A request whose framing is malformed after its head (bad chunk size, chunk
 * data longer than its size, a Transfer-Encoding that does not end in
 * chunked, oversized chunk extensions, Content-Length in the trailers) gets
 * one answer with Connection: close from the record proxy and from the shadow
 * listener, reaches neither the origin nor the candidate nor the store, is
 * counted, and a kept-alive connection opened before it is still served.
 * Every case is raw bytes on a socket.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { Value } from '@sinclair/typebox/value';
import { startHttpCaptureProxy, type HttpCaptureProxy } from '../../src/capture/http-capture-proxy.js';
import { startShadowService, type ShadowService } from '../../src/shadow/shadow-service.js';
import { CompareSchema, CutoffsSchema, ShadowSchema, type ShadowConfig, type CompareConfig } from '../../src/config/schema.js';
import { resolveCompare, resolveShadow } from '../../src/config/resolve.js';
import { createMetrics, type Metrics } from '../../src/metrics/metrics.js';
import { createLogger } from '../../src/core/logger.js';
import { createTestRecorder, metricValue, rawExchange, readExchanges, tempDir, TIMEOUTS, type RecorderSetup } from '../helpers/http.js';
import { primaryHandler, startPeer, type Peer } from '../helpers/shadow-peers.js';

/** An origin that tells apart what it was told of (a request head), what it got whole, and every raw byte. */
interface Origin {
  readonly url: string;
  readonly heads: string[];
  readonly completed: Array<{ url: string; body: string; headers: Record<string, unknown> }>;
  readonly aborted: string[];
  /** every byte any connection sent, latin1 */
  raw(): string;
  /** resolves when a request head for `url` arrived */
  headOf(url: string): Promise<void>;
  close(): Promise<void>;
}

async function startOrigin(): Promise<Origin> {
  const heads: string[] = [];
  const completed: Origin['completed'] = [];
  const aborted: string[] = [];
  const rawChunks: Buffer[] = [];
  const waiters = new Map<string, () => void>();
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    const url = req.url ?? '';
    heads.push(url);
    waiters.get(url)?.();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('aborted', () => aborted.push(url));
    req.on('error', () => undefined);
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('latin1');
      completed.push({ url, body, headers: req.headers });
      const text = `done ${url} ${body.length}`;
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('data', (d: Buffer) => rawChunks.push(d));
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    heads,
    completed,
    aborted,
    raw: () => Buffer.concat(rawChunks).toString('latin1'),
    headOf: (url) => (heads.includes(url) ? Promise.resolve() : new Promise<void>((r) => waiters.set(url, r))),
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** One client connection kept alive across requests; each call reads one Content-Length-framed response. */
class KeptAlive {
  #buf = Buffer.alloc(0);
  #wake: (() => void) | undefined;
  closed = false;
  readonly sock: Socket;
  private constructor(sock: Socket) {
    this.sock = sock;
    sock.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      this.#wake?.();
    });
    sock.on('close', () => {
      this.closed = true;
      this.#wake?.();
    });
  }
  static open(port: number): Promise<KeptAlive> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(new KeptAlive(s)));
      s.once('error', reject);
    });
  }
  async request(bytes: string): Promise<string> {
    this.sock.write(bytes);
    for (;;) {
      const text = this.#buf.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end >= 0) {
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
        if (this.#buf.length >= end + 4 + length) {
          this.#buf = this.#buf.subarray(end + 4 + length);
          return text.slice(0, end + 4 + length);
        }
      }
      if (this.closed) throw new Error(`connection closed after ${JSON.stringify(text)}`);
      await new Promise<void>((r) => (this.#wake = r));
    }
  }
  close(): void {
    this.sock.destroy();
  }
}

interface Listener {
  readonly port: number;
  readonly metrics: Metrics;
  /** the `service` label its refusals are counted under */
  readonly service: string;
  /** urls the listener passed on anywhere but the origin (the store, the candidate), once `marker` got there */
  passedOn(marker: string): Promise<string[]>;
  close(): Promise<void>;
}

async function startRecordListener(origin: Origin): Promise<Listener> {
  const t = await tempDir();
  const setup: RecorderSetup = await createTestRecorder(t.dir);
  const proxy: HttpCaptureProxy = await startHttpCaptureProxy({
    listen: '127.0.0.1:0',
    target: origin.url,
    service: 'app',
    direction: 'inbound',
    sink: setup.recorder,
    maxBodyBytes: 1 << 20,
    timeouts: TIMEOUTS,
    rewriteHost: false,
    log: setup.log,
    metrics: setup.metrics,
  });
  return {
    port: Number(proxy.address.split(':')[1]),
    metrics: setup.metrics,
    service: 'app',
    async passedOn(marker) {
      await setup.recorder.flush();
      const urls = (await readExchanges(setup.dir)).map((e) => e.http.request.url);
      expect(urls).toContain(marker);
      return urls;
    },
    async close() {
      await proxy.close(100);
      await setup.recorder.close();
      await t.cleanup();
    },
  };
}

async function startShadowListener(origin: Origin): Promise<Listener> {
  const candidate: Peer = await startPeer(primaryHandler);
  const metrics = createMetrics();
  const shadow: ShadowService = await startShadowService({
    shadow: resolveShadow(Value.Default(ShadowSchema, {
      listen: '127.0.0.1:0',
      primary: origin.url,
      candidate: candidate.url,
      // writes are shadowed only with live mocks for the candidate's dependencies
      http_deps: [{ name: 'dep', listen: '127.0.0.1:0', target: origin.url }],
      candidate_http_deps: [{ name: 'dep', listen: '127.0.0.1:0' }],
      methods: ['GET', 'POST'],
      timeout: '30s',
      drain_timeout: '200ms',
    }) as ShadowConfig),
    compare: resolveCompare(Value.Default(CompareSchema, {}) as CompareConfig),
    gates: {},
    cutoffs: Value.Default(CutoffsSchema, {}) as never,
    log: createLogger({ level: 'silent' }),
    metrics,
    timeouts: TIMEOUTS,
  });
  return {
    port: Number(shadow.address.split(':')[1]),
    metrics,
    service: 'primary',
    async passedOn(marker) {
      // Copies go out in the order the primary answered, a few at a time: once a later request's
      // copy arrived, an earlier one would have too.
      while (!candidate.seen.some((s) => s.url === marker)) await new Promise((r) => setTimeout(r, 5));
      return candidate.seen.map((s) => s.url);
    },
    async close() {
      await shadow.close();
      await candidate.close();
    },
  };
}

const HUGE_EXTENSION = `;ext=${'e'.repeat(20_000)}`;

/** Each case: its bytes (the path names the case), the answer expected, the reason it is counted under. */
const CASES: Array<{ name: string; path: string; bytes: (path: string) => string; status: number; reason: string }> = [
  {
    name: 'a chunk size that is not hex',
    path: '/bad-chunk-size',
    bytes: (p) => `POST ${p} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n`,
    status: 400,
    reason: 'malformed_framing',
  },
  {
    name: 'chunk data longer than its size',
    path: '/chunk-too-long',
    bytes: (p) => `POST ${p} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n`,
    status: 400,
    reason: 'malformed_framing',
  },
  {
    name: 'an unknown transfer coding (xchunked)',
    path: '/te-xchunked',
    bytes: (p) => `POST ${p} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    status: 400,
    reason: 'malformed_framing',
  },
  {
    name: 'a transfer coding that does not end in chunked (gzip)',
    path: '/te-gzip',
    bytes: (p) => `POST ${p} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    status: 400,
    reason: 'malformed_framing',
  },
  {
    name: 'chunked followed by another coding (chunked, identity)',
    path: '/te-chunked-identity',
    bytes: (p) => `POST ${p} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    status: 400,
    reason: 'malformed_head',
  },
  {
    name: 'an obfuscated Transfer-Encoding name (space before the colon)',
    path: '/te-space-colon',
    bytes: (p) => `POST ${p} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    status: 400,
    reason: 'malformed_head',
  },
  {
    name: 'an obfuscated Transfer-Encoding value (folded onto a continuation line)',
    path: '/te-folded',
    bytes: (p) => `POST ${p} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    status: 400,
    reason: 'malformed_head',
  },
  {
    name: 'Transfer-Encoding in an HTTP/1.0 request',
    path: '/te-http10',
    bytes: (p) => `POST ${p} HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    status: 400,
    reason: 'malformed_framing',
  },
  {
    name: 'a coding the proxy does not implement in front of chunked (gzip, chunked)',
    path: '/te-gzip-chunked',
    bytes: (p) => `POST ${p} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    status: 501,
    reason: 'unsupported_transfer_coding',
  },
  {
    name: 'chunk extensions over the parser limit',
    path: '/huge-extension',
    bytes: (p) => `POST ${p} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5${HUGE_EXTENSION}\r\nhello\r\n0\r\n\r\n`,
    status: 413,
    reason: 'too_large',
  },
  {
    name: 'Content-Length together with chunked and trailers',
    path: '/cl-chunked-trailers',
    bytes: (p) => `POST ${p} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n`,
    status: 400,
    reason: 'malformed_head',
  },
  {
    name: 'Content-Length in the trailers of a chunked body',
    path: '/cl-in-trailers',
    bytes: (p) => `POST ${p} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n`,
    status: 400,
    reason: 'malformed_framing',
  },
];

const LISTENERS = [
  { kind: 'record proxy', start: startRecordListener },
  { kind: 'shadow listener', start: startShadowListener },
];

describe.each(LISTENERS)('$kind and malformed body framing', ({ start }) => {
  let origin: Origin;
  let listener: Listener;
  let good: KeptAlive;
  let goodRequests = 0;

  const goodRequest = async (): Promise<string> => {
    const path = `/good-${++goodRequests}`;
    const answer = await good.request(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok`);
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer).toContain(`done ${path} 2`);
    return path;
  };

  beforeAll(async () => {
    origin = await startOrigin();
    listener = await start(origin);
    // A connection opened before any bad request, kept alive through all of them.
    good = await KeptAlive.open(listener.port);
    await goodRequest();
  });

  afterAll(async () => {
    good.close();
    await listener.close();
    await origin.close();
  });

  it.each(CASES)('$name: answered $status with Connection: close, nothing forwarded, counted', async ({ path, bytes, status, reason }) => {
    const before = await metricValue(listener.metrics, 'doppel_http_bad_requests_total', { service: listener.service, reason });
    const r = await rawExchange(listener.port, bytes(path));
    expect(r.text).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    const head = r.text.slice(0, r.text.indexOf('\r\n\r\n'));
    expect(head).toMatch(/\r\nConnection: close\r\n/i);
    expect(r.text.match(/HTTP\/1\.1 /g)?.length).toBe(1);
    expect(JSON.parse(r.text.slice(head.length + 4))).toMatchObject({ error: status === 501 ? 'not_implemented' : 'bad_request' });
    expect(r.closed).toBe(true);
    expect(await metricValue(listener.metrics, 'doppel_http_bad_requests_total', { service: listener.service, reason })).toBe(before + 1);
    // The connection opened before is still served, and its answer comes from the origin.
    const after = await goodRequest();
    // Not one byte of the refused request reached the origin, and nothing else took it on.
    expect(origin.raw()).not.toContain(path);
    expect(origin.heads).not.toContain(path);
    expect(await listener.passedOn(after)).not.toContain(path);
  });

  it('a good chunked body within the hold arrives whole (with a Content-Length), and is passed on', async () => {
    const path = '/chunked-small';
    const r = await rawExchange(listener.port, `POST ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`);
    expect(r.text).toMatch(/^HTTP\/1\.1 200 /);
    const got = origin.completed.find((c) => c.url === path);
    expect(got?.body).toBe('hello world');
    expect(got?.headers['content-length']).toBe('11');
    expect(await listener.passedOn(path)).toContain(path);
  });

  it('a good chunked body past the hold streams through whole', async () => {
    const path = '/chunked-large';
    const part = 'a'.repeat(48 * 1024);
    const sock = await KeptAlive.open(listener.port);
    sock.sock.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${part.length.toString(16)}\r\n${part}\r\n`);
    sock.sock.write(`${part.length.toString(16)}\r\n${part}\r\n`);
    // Past 64 KiB the origin is told of the request before the body ends.
    await origin.headOf(path);
    const answer = await sock.request(`${part.length.toString(16)}\r\n${part}\r\n0\r\n\r\n`);
    sock.close();
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer).toContain(`done ${path} ${3 * part.length}`);
    const got = origin.completed.find((c) => c.url === path);
    expect(got?.headers['transfer-encoding']).toBe('chunked');
  });

  it('a framing error after the hold aborts the upstream request before it completes, and still gets its 400', async () => {
    const path = '/chunked-large-then-bad';
    const before = await metricValue(listener.metrics, 'doppel_http_bad_requests_total', { service: listener.service, reason: 'malformed_framing' });
    const part = 'b'.repeat(80 * 1024);
    const sock = await KeptAlive.open(listener.port);
    sock.sock.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${part.length.toString(16)}\r\n${part}\r\n`);
    await origin.headOf(path);
    const answer = await sock.request('not-hex\r\nmore\r\n0\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toMatch(/\r\nConnection: close\r\n/i);
    while (!origin.aborted.includes(path)) await new Promise((r) => setTimeout(r, 5));
    sock.close();
    // The origin saw the head and part of the body, then its connection cut: never a whole request.
    expect(origin.completed.map((c) => c.url)).not.toContain(path);
    expect(await metricValue(listener.metrics, 'doppel_http_bad_requests_total', { service: listener.service, reason: 'malformed_framing' })).toBe(before + 1);
    expect(await listener.passedOn(await goodRequest())).not.toContain(path);
  });
});
