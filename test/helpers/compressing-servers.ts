/**
 * Real compressing HTTP services for the content-coding tests: one on
 * Node's http server with zlib streams, one on fastify with
 * @fastify/compress. Both read request bodies through their Content-Encoding
 * and answer JSON in the coding the client accepts, as production services do.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import Fastify from 'fastify';
import fastifyCompress from '@fastify/compress';
import { gzipBomb } from './compression-bombs.js';

export interface RouteRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** the request body decoded and parsed, when it was JSON */
  json: unknown;
}

/** A JSON answer, or bytes sent as they are with the Content-Encoding given (a bomb, a corrupt body). */
export type RouteAnswer = { status?: number; json: unknown } | { status?: number; raw: Buffer; coding: string };

export type Route = (req: RouteRequest) => RouteAnswer;

export interface CompressingServer {
  readonly url: string;
  readonly seen: RouteRequest[];
  close(): Promise<void>;
}

const CODINGS = ['br', 'gzip', 'deflate'] as const;
type Coding = (typeof CODINGS)[number];

/** The first coding the client lists that this server speaks (q-values are not needed by the tests). */
function acceptedCoding(header: string | string[] | undefined): Coding | undefined {
  const text = Array.isArray(header) ? header.join(',') : (header ?? '');
  for (const part of text.split(',')) {
    const c = part.split(';')[0]?.trim().toLowerCase();
    if (CODINGS.includes(c as Coding)) return c as Coding;
  }
  return undefined;
}

function compressor(c: Coding): Transform {
  return c === 'br' ? zlib.createBrotliCompress() : c === 'gzip' ? zlib.createGzip() : zlib.createDeflate();
}

function decompressor(c: string): Transform | undefined {
  if (c === 'br') return zlib.createBrotliDecompress();
  if (c === 'gzip' || c === 'x-gzip') return zlib.createGunzip();
  if (c === 'deflate') return zlib.createInflate();
  return undefined;
}

async function readRequest(req: IncomingMessage): Promise<Buffer> {
  const coding = req.headers['content-encoding']?.trim().toLowerCase();
  const chunks: Buffer[] = [];
  const sink = async (source: AsyncIterable<Buffer>) => {
    for await (const c of source) chunks.push(c);
  };
  const d = coding === undefined || coding === 'identity' ? undefined : decompressor(coding);
  if (coding !== undefined && coding !== 'identity' && d === undefined) throw new Error(`unsupported content coding ${coding}`);
  if (d === undefined) await pipeline(req, sink);
  else await pipeline(req, d, sink);
  return Buffer.concat(chunks);
}

/** Node's http server; request and response bodies go through zlib streams. */
export async function startZlibServer(route: Route): Promise<CompressingServer> {
  const seen: RouteRequest[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      let body: Buffer;
      try {
        body = await readRequest(req);
      } catch (err) {
        res.writeHead(400, { 'content-type': 'text/plain' });
        res.end((err as Error).message);
        return;
      }
      const text = body.toString('utf8');
      let json: unknown;
      try {
        json = text === '' ? undefined : JSON.parse(text);
      } catch {
        json = undefined;
      }
      const r: RouteRequest = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, json };
      seen.push(r);
      const answer = route(r);
      if ('raw' in answer) {
        res.writeHead(answer.status ?? 200, { 'content-type': 'application/json; charset=utf-8', 'content-encoding': answer.coding, 'content-length': answer.raw.length });
        res.end(answer.raw);
        return;
      }
      const payload = Buffer.from(JSON.stringify(answer.json));
      const coding = acceptedCoding(req.headers['accept-encoding']);
      if (coding === undefined) {
        res.writeHead(answer.status ?? 200, { 'content-type': 'application/json; charset=utf-8', 'content-length': payload.length });
        res.end(payload);
        return;
      }
      // streamed: chunked framing and no Content-Length, as a compressing service sends it
      res.writeHead(answer.status ?? 200, { 'content-type': 'application/json; charset=utf-8', 'content-encoding': coding, vary: 'Accept-Encoding' });
      await pipeline(Readable.from([payload]), compressor(coding), res);
    })();
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

/** fastify with @fastify/compress: responses over its threshold (1 KiB) are compressed, request bodies decompressed. */
export async function startFastifyCompressServer(route: Route): Promise<CompressingServer> {
  const seen: RouteRequest[] = [];
  const app = Fastify({ logger: false });
  await app.register(fastifyCompress, { encodings: ['br', 'gzip', 'deflate'] });
  app.route({
    method: ['GET', 'POST', 'PUT'],
    url: '/*',
    handler: async (req, reply) => {
      const r: RouteRequest = { method: req.method, url: req.url, headers: req.headers, json: req.body };
      seen.push(r);
      const answer = route(r);
      reply.code(answer.status ?? 200).type('application/json; charset=utf-8');
      // a reply that already carries a Content-Encoding is left as it is by the plugin
      if ('raw' in answer) return reply.header('content-encoding', answer.coding).send(answer.raw);
      return reply.send(JSON.stringify(answer.json));
    },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => app.close(),
  };
}

const items = (id: number) => Array.from({ length: 30 }, (_, i) => ({ sku: `sku-${id}-${i}`, qty: i % 4, price: 2.5 * i }));

/** An orders service; the `candidate` build plants a changed total on order 3, fresh request ids and a bomb. */
export function serviceRoute(build: 'baseline' | 'candidate'): Route {
  let seq = build === 'baseline' ? 0 : 1000;
  const bomb = build === 'candidate' ? gzipBomb() : undefined;
  return (req) => {
    const [, kind, idText] = /^\/(\w+)(?:\/(\d+))?/.exec(req.url) ?? [];
    const id = Number(idText ?? 0);
    switch (kind ?? '') {
      case 'orders':
        return { json: { id, total: build === 'candidate' && id === 3 ? id * 10 + 1 : id * 10, currency: 'EUR', items: items(id) } };
      case 'profiles':
        return { json: { id, name: `user-${id}`, requestId: `req-${seq++}`, items: items(id) } };
      case 'ledger':
        return { json: { id, entries: items(id) } };
      case 'small':
        return { json: { ok: true } };
      case 'bomb':
        return bomb === undefined ? { json: { ok: true, items: items(0) } } : { raw: bomb, coding: 'gzip' };
      default:
        return { status: 404, json: { error: 'no route' } };
    }
  };
}

/** Requests of the coded-service tests: path and the one coding the client accepts. */
export const CODED_PLAN: Array<[string, string]> = [
  ...[1, 2, 3, 4, 5].map((i): [string, string] => [`/orders/${i}`, 'gzip']),
  ...[1, 2, 3, 4, 5].map((i): [string, string] => [`/profiles/${i}`, 'br']),
  ...[1, 2, 3].map((i): [string, string] => [`/ledger/${i}`, 'deflate']),
  ['/small', 'gzip'],
  ['/bomb', 'gzip'],
];
