import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { createMetrics, type Metrics } from '../../src/metrics/metrics.js';
import { createFileStoreReader, createFileStoreWriter } from '../../src/store/file-store.js';
import { createRecorder, type Recorder } from '../../src/capture/recorder.js';
import { startHttpCaptureProxy, type HttpCaptureProxy, type HttpCaptureProxyOptions } from '../../src/capture/http-capture-proxy.js';
import { createRedactor, type Redactor } from '../../src/core/redact.js';
import { createSessionKeyer, parseSessionKey } from '../../src/core/sessions.js';
import type { Exchange, HttpExchange } from '../../src/core/exchange.js';
import type { Logger } from '../../src/core/logger.js';

export interface Upstream {
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

export async function startUpstream(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Upstream> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Sends raw bytes, returns everything the server wrote until it closed or went quiet. */
export function rawExchange(port: number, bytes: string | Buffer, opts: { quietMs?: number; endAfterWrite?: boolean } = {}): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const quiet = opts.quietMs ?? 1500;
    const done = (closed: boolean) => {
      if (timer) clearTimeout(timer);
      sock.destroy();
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed });
    };
    const arm = () => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => done(false), quiet);
    };
    sock.on('connect', () => {
      sock.write(bytes);
      arm();
    });
    sock.on('data', (c) => {
      chunks.push(c);
      arm();
    });
    sock.on('end', () => done(true));
    sock.on('close', () => done(true));
    sock.on('error', (e) => (chunks.length > 0 ? done(true) : reject(e)));
  });
}

export function silentLogger(): { log: Logger; lines: () => Array<Record<string, unknown>> } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      cb();
    },
  });
  const log = pino({ level: 'debug' }, sink);
  return { log, lines: () => lines.map((l) => JSON.parse(l)) };
}

export async function tempDir(prefix = 'doppel-http-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface RecorderSetup {
  recorder: Recorder;
  metrics: Metrics;
  redactor: Redactor;
  log: Logger;
  dir: string;
}

export async function createTestRecorder(
  dir: string,
  opts: { quotaBytes?: number; queueItems?: number; sessionKey?: string; jsonPaths?: string[]; log?: Logger; metrics?: Metrics } = {},
): Promise<RecorderSetup> {
  const metrics = opts.metrics ?? createMetrics();
  const log = opts.log ?? silentLogger().log;
  const redactor = createRedactor({
    key: Buffer.from('test-key'),
    jsonPaths: opts.jsonPaths ?? [],
    onRedact: (kind) => metrics.redactions.inc({ kind }),
  });
  const writer = await createFileStoreWriter({ dir, flushIntervalMs: 5 });
  const recorder = createRecorder({
    writer,
    log,
    metrics,
    redactor,
    sessionKeyer: createSessionKeyer(parseSessionKey(opts.sessionKey ?? 'exchange'), (v) => redactor.placeholder(v)),
    queueItems: opts.queueItems ?? 1000,
    queueBytes: 64 * 1024 * 1024,
    quotaBytes: opts.quotaBytes,
  });
  return { recorder, metrics, redactor, log, dir };
}

export async function readExchanges(dir: string): Promise<HttpExchange[]> {
  const out: HttpExchange[] = [];
  for await (const ex of createFileStoreReader([dir]).read()) out.push(ex as HttpExchange);
  return out;
}

export async function readAll(dirs: string[]): Promise<Exchange[]> {
  const out: Exchange[] = [];
  for await (const ex of createFileStoreReader(dirs).read()) out.push(ex);
  return out;
}

export async function metricValue(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = metrics.registry.getSingleMetric(name);
  if (!m) return 0;
  const data = await m.get();
  let sum = 0;
  for (const v of data.values as Array<{ value: number; labels: Record<string, string | number> }>) {
    if (Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)) sum += v.value;
  }
  return sum;
}

export const TIMEOUTS = { headersMs: 10_000, requestMs: 60_000, keepAliveMs: 5_000, upstreamMs: 10_000 };

/** An inbound record proxy on a system-picked port in front of `target`, recording into `setup` with the tests' timeouts; `extra` adds or overrides options. */
export function startTestRecordProxy(target: string, setup: RecorderSetup, log: Logger, extra: Partial<HttpCaptureProxyOptions> = {}): Promise<HttpCaptureProxy> {
  return startHttpCaptureProxy({
    listen: '127.0.0.1:0',
    target,
    service: 'app',
    direction: 'inbound',
    sink: setup.recorder,
    maxBodyBytes: 1024 * 1024,
    timeouts: TIMEOUTS,
    rewriteHost: false,
    log,
    ...extra,
  });
}
