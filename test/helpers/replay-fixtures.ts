/**
 * Shared pieces of the replay tests: an orders service that can be built as
 * the baseline or as a candidate with planted regressions, and a recorder
 * that writes its inbound exchanges into a traffic directory the way capture
 * does (one exchange per request, session from x-session-id).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import { createFileStoreWriter } from '../../src/store/file-store.js';
import { newExchangeId } from '../../src/core/ids.js';
import type { HeaderPairs, HttpExchange } from '../../src/core/exchange.js';
import { Writable } from 'node:stream';
import type { CliIO } from '../../src/cli/context.js';

export interface ServiceOptions {
  /** GET /orders/:id answers a different total */
  changeTotal?: boolean;
  /** GET /users/:id answers 500 */
  breakUsers?: boolean;
  /** GET /slow takes this long */
  slowMs?: number;
  /** ids assigned by POST /orders start here */
  firstId?: number;
  /** GET /broken answers text claiming to be JSON; with true, different text */
  brokenJsonVariant?: boolean;
  /** called as each request arrives, before it is answered */
  onRequest?: (seen: SeenRequest) => void;
}

export interface SeenRequest {
  method: string;
  url: string;
  session: string | undefined;
  at: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface Service {
  url: string;
  seen: SeenRequest[];
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startService(opts: ServiceOptions = {}): Promise<Service> {
  const seen: SeenRequest[] = [];
  const orders = new Map<number, { id: number; item: string; qty: number }>();
  let nextId = opts.firstId ?? 1;
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': randomUUID() });
    res.end(JSON.stringify(body));
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const url = req.url ?? '/';
      const path = url.split('?')[0] ?? '/';
      const session = req.headers['x-session-id'];
      const arrived: SeenRequest = { method: req.method ?? 'GET', url, session: typeof session === 'string' ? session : undefined, at: performance.now(), headers: req.headers, body };
      seen.push(arrived);
      opts.onRequest?.(arrived);
      let m: RegExpExecArray | null;
      if (req.method === 'POST' && path === '/orders') {
        const input = JSON.parse(body || '{}') as { item?: string; qty?: number };
        const order = { id: nextId++, item: input.item ?? 'x', qty: input.qty ?? 1 };
        orders.set(order.id, order);
        return json(res, 201, { ...order, createdAt: new Date().toISOString() });
      }
      if (req.method === 'GET' && (m = /^\/orders\/(\d+)$/.exec(path))) {
        const id = Number(m[1]);
        const stored = orders.get(id);
        if (stored !== undefined) return json(res, 200, { ...stored, status: 'open', updatedAt: new Date().toISOString() });
        if (id >= 1000 && opts.firstId === undefined) return json(res, 404, { error: 'not found' });
        return json(res, 200, { id, total: opts.changeTotal === true ? id * 10 + 1 : id * 10, currency: 'EUR', requestId: randomUUID(), createdAt: new Date().toISOString() });
      }
      if (req.method === 'GET' && (m = /^\/users\/(\d+)$/.exec(path))) {
        if (opts.breakUsers === true) return json(res, 500, { error: 'boom' });
        return json(res, 200, { id: Number(m[1]), name: `user-${m[1]}` });
      }
      if (req.method === 'GET' && path === '/slow') {
        if (opts.slowMs !== undefined) await new Promise((r) => setTimeout(r, opts.slowMs));
        return json(res, 200, { ok: true });
      }
      if (req.method === 'GET' && path === '/broken') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(opts.brokenJsonVariant === true ? 'not json at all' : '{"half": ');
      }
      if (req.method === 'GET' && path === '/random') return json(res, 200, { n: Math.random() });
      if (path === '/healthz') return json(res, 200, { ok: true });
      return json(res, 404, { error: 'no route' });
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${addr.port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface PlannedRequest {
  method: string;
  url: string;
  session: string;
  body?: unknown;
  /** recorded start time offset in ms from the first request (default: 10 ms apart) */
  atMs?: number;
}

/**
 * Sends the planned requests to a live service and writes each pair as a
 * recorded inbound exchange. Also writes one outbound exchange, which replay
 * must skip.
 */
export async function recordTraffic(service: Service, dir: string, plan: readonly PlannedRequest[]): Promise<HttpExchange[]> {
  const writer = await createFileStoreWriter({ dir });
  const base = Date.parse('2026-03-01T10:00:00.000Z');
  const out: HttpExchange[] = [];
  let i = 0;
  for (const p of plan) {
    const headers: HeaderPairs = [
      ['Host', 'orders.prod.internal'],
      ['x-session-id', p.session],
      ['Authorization', '[redacted:hmac:3f2a]'],
    ];
    const bodyText = p.body === undefined ? '' : JSON.stringify(p.body);
    if (p.body !== undefined) headers.push(['content-type', 'application/json']);
    const t0 = performance.now();
    const res = await request(service.url + p.url, {
      method: p.method as 'GET',
      headers: Object.fromEntries(headers.filter(([k]) => k !== 'Host')),
      body: p.body === undefined ? null : bodyText,
    });
    const resBody = await res.body.text();
    const durationMs = performance.now() - t0;
    const resHeaders: HeaderPairs = [];
    for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') resHeaders.push([k, v]);
    const ex: HttpExchange = {
      v: 1,
      id: newExchangeId(base + i),
      session: p.session,
      parent: null,
      direction: 'inbound',
      service: 'orders',
      protocol: 'http',
      startedAt: new Date(base + (p.atMs ?? i * 10)).toISOString(),
      durationMs,
      tags: {},
      http: {
        request: { method: p.method, url: p.url, headers, body: bodyText, bodyEncoding: 'utf8', truncated: false },
        response: { status: res.statusCode, headers: resHeaders, body: resBody, bodyEncoding: 'utf8', truncated: false },
      },
    };
    await writer.append(ex);
    out.push(ex);
    if (i === 0) {
      await writer.append({ ...ex, id: newExchangeId(base), direction: 'outbound', service: 'payments', parent: ex.id });
    }
    i++;
  }
  await writer.close();
  return out;
}

export async function tempDir(prefix: string): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/** The mixed traffic of the planted-regression tests: orders, users, slow, one create-then-read session. */
export function standardPlan(): PlannedRequest[] {
  const plan: PlannedRequest[] = [];
  for (let i = 1; i <= 20; i++) {
    plan.push({ method: 'GET', url: `/orders/${i}`, session: `s-o${i}` });
    plan.push({ method: 'GET', url: `/users/${i}`, session: `s-u${i}` });
    plan.push({ method: 'GET', url: '/slow', session: `s-w${i}` });
  }
  return plan;
}

export interface CapturedIO {
  io: CliIO;
  stdout: () => string;
  stderr: () => string;
}

export function captureIO(signal: AbortSignal = new AbortController().signal, env: Record<string, string | undefined> = {}): CapturedIO {
  let out = '';
  let err = '';
  const sink = (append: (s: string) => void) =>
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        append(chunk.toString());
        cb();
      },
    });
  return {
    io: { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), env, signal, cwd: process.cwd() },
    stdout: () => out,
    stderr: () => err,
  };
}
