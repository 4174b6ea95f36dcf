/**
 * One server of the HTTP benches, in its own process so its CPU is measured
 * apart from the load generator: `tsx bench/http-bench-server.ts ROLE [ARG]`.
 * Prints one JSON line {"url": ...} when listening; answers "cpu" messages
 * over IPC with process.cpuUsage(), "rss" with process.memoryUsage().rss and
 * "mem" with all of process.memoryUsage() (heap apart from buffers).
 */
import { createServer, request as httpRequest, Agent } from 'node:http';
import { connect as h2Connect, createServer as createH2Server, createSecureServer as createH2SecureServer, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import Fastify from 'fastify';
import httpProxy from '@fastify/http-proxy';
import { startHttpCaptureProxy } from '../src/capture/http-capture-proxy.js';
import { createRecorder } from '../src/capture/recorder.js';
import { createRedactor } from '../src/core/redact.js';
import { createSessionKeyer, parseSessionKey } from '../src/core/sessions.js';
import { createMetrics } from '../src/metrics/metrics.js';
import { createFileStoreWriter } from '../src/store/file-store.js';
import { startHttpMock } from '../src/mock/http-mock.js';
import { createLogger } from '../src/core/logger.js';
import { loadServerTls } from '../src/core/tls.js';
import { benchExchanges, benchMockOptions, BENCH_BODY } from './http-bench-data.js';

const role = process.argv[2] ?? '';
const arg = process.argv[3] ?? '';
const silent = pino({ level: 'silent' }, new Writable({ write: (_c, _e, cb) => cb() }));
const cleanups: Array<() => Promise<unknown>> = [];

function ready(url: string): void {
  process.stdout.write(JSON.stringify({ url }) + '\n');
}

process.on('message', (m: string) => {
  if (m === 'cpu') process.send?.({ cpu: process.cpuUsage() });
  if (m === 'rss') process.send?.({ rss: process.memoryUsage().rss });
  if (m === 'mem') process.send?.({ mem: process.memoryUsage() });
});
process.on('SIGTERM', () => {
  void Promise.all(cleanups.map((c) => c())).finally(() => process.exit(0));
});

async function listen(server: ReturnType<typeof createServer>): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address() as { port: number };
  return `http://127.0.0.1:${a.port}`;
}

async function main(): Promise<void> {
  switch (role) {
    case 'upstream': {
      const body = BENCH_BODY;
      const server = createServer((req, res) => {
        req.resume();
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
        res.end(body);
      });
      server.keepAliveTimeout = 60_000;
      ready(await listen(server));
      return;
    }
    case 'upstream-h2':
    case 'upstream-h2-tls': {
      // the same answer over h2c (prior knowledge), for the HTTP/2 record proxy bench;
      // over TLS with ALPN h2 as the direct baseline of the TLS handshake figure
      const body = BENCH_BODY;
      const tls = role === 'upstream-h2-tls' ? await loadServerTls({ generate: true }, { label: 'bench.upstream.tls', log: silent }) : undefined;
      const server = tls === undefined ? createH2Server() : createH2SecureServer(tls.serverOptions());
      server.on('stream', (stream: ServerHttp2Stream) => {
        stream.resume();
        stream.respond({ ':status': 200, 'content-type': 'application/json', 'content-length': body.length });
        stream.end(body);
      });
      if (tls !== undefined) {
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
        ready(`https://127.0.0.1:${(server.address() as { port: number }).port}`);
        return;
      }
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      ready(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
      return;
    }
    case 'doppel':
    case 'doppel-tls':
    case 'doppel-off': {
      const dir = await mkdtemp(join(tmpdir(), 'doppel-bench-'));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      const metrics = createMetrics();
      const redactor = createRedactor({ key: Buffer.from('bench') });
      const recorder = createRecorder({
        writer: await createFileStoreWriter({ dir }),
        log: silent,
        metrics,
        redactor,
        sessionKeyer: createSessionKeyer(parseSessionKey('exchange'), (v) => redactor.placeholder(v)),
        queueItems: 10_000,
        queueBytes: 64 * 1024 * 1024,
      });
      const proxy = await startHttpCaptureProxy({
        listen: '127.0.0.1:0',
        target: arg,
        service: 'bench',
        direction: 'inbound',
        sink: role === 'doppel-off' ? undefined : recorder,
        // doppel-tls: a generated self-signed pair; clients negotiate h2 by ALPN
        tls: role === 'doppel-tls' ? await loadServerTls({ generate: true }, { label: 'bench.tls', log: silent }) : undefined,
        // an https:// upstream is the bench's own generated certificate: not verified
        targetTls: arg.startsWith('https:') ? { rejectUnauthorized: false } : undefined,
        maxBodyBytes: 1024 * 1024,
        timeouts: { headersMs: 30_000, requestMs: 300_000, keepAliveMs: 60_000, upstreamMs: 30_000 },
        rewriteHost: false,
        log: silent,
      });
      process.on('message', (m: string) => {
        // Flushed first, so the counts cover every exchange the proxy has answered so far.
        if (m === 'recorded') void recorder.flush().then(() => process.send?.({ recorded: recorder.status() }));
      });
      ready(proxy.url);
      return;
    }
    case 'fastify': {
      const app = Fastify({ logger: false, keepAliveTimeout: 60_000 });
      await app.register(httpProxy, { upstream: arg });
      await app.listen({ host: '127.0.0.1', port: 0 });
      const a = app.server.address() as { port: number };
      ready(`http://127.0.0.1:${a.port}`);
      return;
    }
    case 'node': {
      const target = new URL(arg);
      const agent = new Agent({ keepAlive: true, maxSockets: 256 });
      const server = createServer((req, res) => {
        const up = httpRequest(
          { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent },
          (ur) => {
            res.writeHead(ur.statusCode ?? 502, ur.headers);
            ur.pipe(res);
          },
        );
        up.on('error', () => {
          res.statusCode = 502;
          res.end();
        });
        req.pipe(up);
      });
      server.keepAliveTimeout = 60_000;
      ready(await listen(server));
      return;
    }
    case 'node-h2': {
      // the floor of any HTTP/2 proxy on Node: h2c in, one h2c session out, stream API on both sides, nothing recorded
      const upstream = h2Connect(arg);
      upstream.on('error', (err) => process.stderr.write(`node-h2 upstream: ${err.message}\n`));
      const server = createH2Server();
      server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
        const up = upstream.request(headers);
        up.on('response', (h) => {
          if (!stream.destroyed) stream.respond(h);
        });
        up.on('error', () => {
          if (stream.destroyed) return;
          if (!stream.headersSent) stream.respond({ ':status': 502 });
          stream.end();
        });
        // a client that leaves mid-stream (h2load at the end of its run) cancels the upstream stream
        stream.on('error', () => up.close());
        stream.pipe(up);
        up.pipe(stream);
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      ready(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
      return;
    }
    case 'mock-doppel': {
      const n = Number(arg || '1000');
      const mock = await startHttpMock({
        service: 'bench',
        listen: '127.0.0.1:0',
        exchanges: benchExchanges(n),
        options: benchMockOptions(100),
        log: silent,
        metrics: createMetrics(),
      });
      mock.server.keepAliveTimeout = 60_000;
      ready(mock.url);
      return;
    }
    case 'mock-miss': {
      // ARG is N:LEVEL; at info the miss log goes to /dev/null as JSON, so formatting and writing are paid
      const [count, level] = arg.split(':');
      const log = level === 'info' ? createLogger({ level: 'info', format: 'json', destination: pino.destination({ dest: '/dev/null', sync: false }) }) : silent;
      const mock = await startHttpMock({
        service: 'bench',
        listen: '127.0.0.1:0',
        exchanges: benchExchanges(Number(count || '1001')),
        options: benchMockOptions(1000),
        log,
        metrics: createMetrics(),
      });
      mock.server.keepAliveTimeout = 60_000;
      ready(mock.url);
      return;
    }
    case 'mock-node': {
      // the same bytes from a Map keyed by path: the floor any mock can reach
      const n = Number(arg || '1000');
      const map = new Map<string, Buffer>();
      for (const ex of benchExchanges(n)) map.set(ex.http.request.url, Buffer.from(ex.http.response?.body ?? ''));
      const server = createServer((req, res) => {
        req.resume();
        const body = map.get(req.url ?? '');
        if (!body) {
          res.statusCode = 404;
          res.end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
        res.end(body);
      });
      server.keepAliveTimeout = 60_000;
      ready(await listen(server));
      return;
    }
    default:
      process.stderr.write(`unknown role ${role}\n`);
      process.exit(2);
  }
}

void main();
