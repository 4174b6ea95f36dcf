/**
 * gRPC unary through the doppel gRPC mock vs a @grpc/grpc-js server
 * answering the same reply from memory (pre-encoded bytes, identity
 * serializers: the cheapest grpc-js answer there is). One HTTP/2 load
 * generator in this process keeps `streams` calls in flight on one
 * connection per server; variants run interleaved, figures are medians of
 * the repeats. Target: >= 1.0x.
 *
 * Run alone: npx tsx bench/grpc.bench.ts   (BENCH_QUICK=1 for a smoke run)
 */
import { connect, constants } from 'node:http2';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import protobuf from 'protobufjs';
import { createMetrics } from '../src/metrics/metrics.js';
import { startGrpcMock } from '../src/mock/grpc/grpc-mock.js';
import { encodeFrame, GrpcFrameDecoder } from '../src/protocols/grpc/framing.js';
import { grpcExchangeFrom } from '../src/protocols/grpc/grpc-exchange.js';
import { noFigures, type BenchFigures } from './results.js';

const silent = pino({ level: 'silent' }, new Writable({ write: (_c, _e, cb) => cb() }));
const PATH = '/bench.v1.Orders/GetOrder';

const root = protobuf.parse(`syntax = "proto3"; package bench.v1;
  message Req { string id = 1; }
  message Item { string sku = 1; int32 qty = 2; int64 price_cents = 3; }
  message Reply { string id = 1; string status = 2; repeated Item items = 3; int64 total_cents = 4; string currency = 5; }`).root;
const Req = root.lookupType('bench.v1.Req');
const Reply = root.lookupType('bench.v1.Reply');
const request = Buffer.from(Req.encode({ id: 'o-42' }).finish());
const reply = Buffer.from(
  Reply.encode({ id: 'o-42', status: 'paid', currency: 'EUR', totalCents: 123456, items: Array.from({ length: 8 }, (_, i) => ({ sku: `SKU-${i}`, qty: i + 1, priceCents: 999 * (i + 1) })) }).finish(),
);

async function startGrpcJs(): Promise<{ url: string; close(): Promise<void> }> {
  const server = new grpc.Server();
  const same = (b: Buffer) => b;
  server.addService(
    { GetOrder: { path: PATH, requestStream: false, responseStream: false, requestSerialize: same, requestDeserialize: same, responseSerialize: same, responseDeserialize: same, originalName: 'GetOrder' } },
    { GetOrder: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, reply) },
  );
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.tryShutdown(() => r())) };
}

async function startMock(): Promise<{ url: string; close(): Promise<void> }> {
  const ex = grpcExchangeFrom({
    path: PATH,
    requestHeaders: [['content-type', 'application/grpc']],
    requestBody: encodeFrame(request),
    responseHeaders: [[':status', '200'], ['content-type', 'application/grpc']],
    responseBody: encodeFrame(reply),
    trailers: [['grpc-status', '0']],
    envelope: { id: '01JBENCH0000000000000000GR', session: 's', parent: null, direction: 'outbound', service: 'orders', startedAt: new Date(), durationMs: 1 },
  });
  const mock = await startGrpcMock({ service: 'orders', listen: '127.0.0.1:0', listenFlag: 'bench', exchanges: [ex], maxMessageBytes: 4 << 20, unmatchedKeep: 10, log: silent, metrics: createMetrics() });
  return { url: `http://127.0.0.1:${mock.address.port}`, close: () => mock.close() };
}

/** Unary calls completed in `ms` with `streams` in flight; a call that does not answer OK counts as an error. */
async function load(url: string, streams: number, ms: number): Promise<{ rps: number; errors: number }> {
  const session = connect(url);
  await new Promise<void>((resolve, reject) => session.once('connect', () => resolve()).once('error', reject));
  const body = encodeFrame(request);
  let done = 0;
  let errors = 0;
  const until = performance.now() + ms;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const s = session.request({ [constants.HTTP2_HEADER_METHOD]: 'POST', [constants.HTTP2_HEADER_PATH]: PATH, 'content-type': 'application/grpc', te: 'trailers' });
      const dec = new GrpcFrameDecoder();
      let messages = 0;
      let status: string | undefined;
      s.on('response', (h) => (status ??= h['grpc-status'] as string | undefined));
      s.on('trailers', (t) => (status = t['grpc-status'] as string | undefined));
      s.on('data', (c: Buffer) => (messages += dec.push(c).length));
      s.on('close', () => {
        if (status === '0' && messages === 1) done++;
        else errors++;
        resolve();
      });
      s.end(body);
    });
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: streams }, async () => {
      while (performance.now() < until) await one();
    }),
  );
  const took = performance.now() - t0;
  await new Promise<void>((r) => session.close(() => r()));
  return { rps: (done * 1000) / took, errors };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

export async function runGrpcBench(opts: { quick?: boolean; figures?: BenchFigures } = {}): Promise<string> {
  const figures = opts.figures ?? noFigures;
  const sliceMs = opts.quick === true ? 500 : 3000;
  const repeats = opts.quick === true ? 2 : 5;
  const streams = 32;
  const servers = { grpcjs: await startGrpcJs(), mock: await startMock() };
  const rps: Record<keyof typeof servers, number[]> = { grpcjs: [], mock: [] };
  let errors = 0;
  try {
    // Warm both up (JIT, connection), then alternate which goes first.
    await load(servers.grpcjs.url, streams, 300);
    await load(servers.mock.url, streams, 300);
    for (let i = 0; i < repeats; i++) {
      const order: Array<keyof typeof servers> = i % 2 === 0 ? ['mock', 'grpcjs'] : ['grpcjs', 'mock'];
      for (const k of order) {
        const r = await load(servers[k].url, streams, sliceMs);
        rps[k].push(r.rps);
        errors += r.errors;
      }
    }
  } finally {
    await servers.mock.close();
    await servers.grpcjs.close();
  }
  const mock = median(rps.mock);
  const base = median(rps.grpcjs);
  const ratio = mock / base;
  figures.set('grpc_mock_rps_vs_grpcjs', ratio);
  figures.set('grpc_mock_rps', Math.round(mock));
  figures.set('grpcjs_rps', Math.round(base));
  figures.set('grpc_mock_errors', errors);
  if (errors > 0) figures.flag(`${errors} calls did not answer OK`);
  return [
    '| gRPC unary, 32 streams on one connection | calls/s (median) |',
    '|---|---|',
    `| doppel gRPC mock | ${Math.round(mock)} |`,
    `| grpc-js server from memory | ${Math.round(base)} |`,
    `| ratio (target >= 1.0x) | ${ratio.toFixed(2)}x |`,
    errors > 0 ? `\n${errors} calls did not answer OK` : '',
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(await runGrpcBench({ quick: process.env.BENCH_QUICK === '1' }));
}
