/**
 * A grpc-js client reaches a grpc-js server through the ordinary HTTP record
 * proxy (`doppel record`, protocol http; h2c, and h2 over TLS): calls are relayed unchanged,
 * trailers and Trailers-Only errors included, and stored as grpc exchanges
 * that `doppel replay --protocol grpc` and the gRPC mock then use as they use
 * what the gRPC listener records. A non-gRPC request on the same port stays
 * an HTTP exchange.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect as h2connect } from 'node:http2';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Exchange, GrpcExchange, HttpExchange } from '../../src/core/exchange.js';
import { runCli, startCli } from '../helpers/cli.js';
import { getOrder, GRPC_PROTO_DIR, grpc, listOrders, loadOrdersDefinition, ordersClient, REJECT_DETAILS, startOrdersServer, type OrdersClient, type OrdersServer } from '../helpers/grpc-peers.js';
import { readAll, tempDir } from '../helpers/http.js';
import { until } from '../helpers/until.js';
import { decodeStatusDetails } from '../../src/protocols/grpc/status.js';
import { makeCa, makeLeaf, writePem } from '../helpers/tls-fixtures.js';

/** A JSON POST over h2c: what a REST client on the same proxy port sends. */
function postJson(address: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = h2connect(`http://${address}`);
    session.on('error', reject);
    const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/json' });
    req.on('response', (h) => {
      req.resume();
      req.on('end', () => {
        session.close();
        resolve(Number(h[':status']));
      });
    });
    req.end('{"id":"o-1"}');
  });
}

describe('gRPC through the HTTP record proxy', () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  let work: string;
  let traffic: string;
  let direct: { unary: Awaited<ReturnType<typeof getOrder>>; streamed: Awaited<ReturnType<typeof listOrders>>; rejected: grpc.ServiceError };
  let exchanges: Exchange[];
  let v1: OrdersServer;

  beforeAll(async () => {
    const t = await tempDir('doppel-grpc-http-');
    cleanups.push(t.cleanup);
    work = t.dir;
    traffic = join(work, 'traffic');
    v1 = await startOrdersServer();
    cleanups.push(() => v1.close());
    const directClient = ordersClient(v1.target);
    direct = {
      unary: await getOrder(directClient, 'o-7'),
      streamed: await listOrders(directClient, 3),
      rejected: (await getOrder(directClient, 'o-9', undefined, 'Reject').catch((e: grpc.ServiceError) => e)) as grpc.ServiceError,
    };
    directClient.close();
  });
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('relays unary, streaming and error calls unchanged, trailers included', async () => {
    const rec = startCli(['record', '--out', traffic, '--listen', '127.0.0.1:0', '--upstream', v1.url, '--service', 'orders', '--admin', '127.0.0.1:0'], { DOPPEL_REDACT_KEY: 'k' });
    cleanups.push(() => rec.stop());
    const line = await rec.waitFor('record proxy listening');
    const admin = await rec.waitFor('admin api listening');
    const client = ordersClient(line.address as string);
    cleanups.push(() => client.close());

    const unary = await getOrder(client, 'o-7');
    expect(unary.reply).toEqual(direct.unary.reply);
    expect(unary.metadata.get('x-served-by')).toEqual(['orders-grpc']);
    expect(await listOrders(client, 3)).toEqual(direct.streamed);
    // grpc-js answers an error as Trailers-Only: status, message and details must reach the client as sent.
    const rejected = (await getOrder(client, 'o-9', undefined, 'Reject').catch((e: grpc.ServiceError) => e)) as grpc.ServiceError;
    expect(rejected.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(rejected.details).toBe(direct.rejected.details);
    const details = rejected.metadata.get('grpc-status-details-bin')[0] as Buffer;
    expect(decodeStatusDetails(details.toString('base64'))).toEqual(REJECT_DETAILS);
    // A call past its deadline: the client's cancel reaches the server through the proxy.
    const late = (await getOrder(client, 'o-1', 300, 'Hang').catch((e: grpc.ServiceError) => e)) as grpc.ServiceError;
    expect(late.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await until('the server to see the cancelled call', () => v1.cancelled === 1);
    // The same port takes REST: grpc-js refuses a JSON body with HTTP 415, which stays an HTTP exchange.
    expect(await postJson(line.address as string, '/orders')).toBe(415);
    // The recorded counter says which protocol each exchange was stored as.
    const metrics = async () => (await (await request(`http://${admin.address as string}/metrics`)).body.text());
    await until('the five exchanges to be counted', async () => /protocol="http"\} 1\n/.test(await metrics()));
    const text = await metrics();
    expect(text).toContain('doppel_exchanges_recorded_total{service="orders",direction="inbound",protocol="grpc"} 4');
    expect(text).toContain('doppel_exchanges_recorded_total{service="orders",direction="inbound",protocol="http"} 1');

    expect(await rec.stop()).toBe(0);
    exchanges = await readAll([traffic]);
  });

  it('stores the gRPC calls as grpc exchanges with the DESIGN payload and the REST call as HTTP', () => {
    const grpcEx = exchanges.filter((e): e is GrpcExchange => e.protocol === 'grpc');
    expect(grpcEx.map((e) => `${e.grpc.service}/${e.grpc.method}`).sort()).toEqual([
      'shop.v1.Orders/GetOrder',
      'shop.v1.Orders/Hang',
      'shop.v1.Orders/ListOrders',
      'shop.v1.Orders/Reject',
    ]);
    const by = (m: string) => grpcEx.find((e) => e.grpc.method === m) as GrpcExchange;
    const get = by('GetOrder');
    expect(get.service).toBe('orders');
    expect(get.direction).toBe('inbound');
    expect(get.grpc.request.messages).toHaveLength(1);
    expect(get.grpc.request.metadata).toContainEqual(['content-type', 'application/grpc']);
    expect(get.grpc.response?.status).toBe(0);
    expect(get.grpc.response?.messages).toHaveLength(1);
    expect(get.grpc.response?.metadata).toContainEqual(['x-served-by', 'orders-grpc']);
    expect(get.grpc.response?.metadata.some(([k]) => k === 'grpc-status')).toBe(false);
    expect(by('ListOrders').grpc.response?.messages).toHaveLength(3);
    const hang = by('Hang');
    // Which side ends it first is timing: the server at its own deadline (Trailers-Only DEADLINE_EXCEEDED) or the client's cancel.
    if (hang.grpc.response === null) expect(hang.grpc.error?.code).toBe('CANCELLED');
    else expect(hang.grpc.response.status).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(hang.grpc.request.metadata.some(([k]) => k === 'grpc-timeout')).toBe(true);
    const reject = by('Reject').grpc.response;
    expect(reject?.status).toBe(9);
    expect(reject?.message).toBe('order is closed');
    expect(reject?.details).toEqual(REJECT_DETAILS);
    const rest = exchanges.filter((e): e is HttpExchange => e.protocol === 'http');
    expect(rest.map((e) => `${e.http.request.method} ${e.http.request.url} ${e.http.response?.status}`)).toEqual(['POST /orders 415']);
  });

  it('replays to the same server with every call judged equal, and reports a planted field at its JSON path', async () => {
    const config = join(work, 'doppel.yaml');
    await writeFile(config, `grpc:\n  protos: [${JSON.stringify(GRPC_PROTO_DIR)}]\n`);
    const gates = join(work, 'gates.yaml');
    await writeFile(gates, 'quality_gates:\n  body_match_rate: ">= 1"\n');
    const same = await runCli(['replay', '--protocol', 'grpc', '--config', config, '--traffic', traffic, '--target', v1.url, '--gates', gates, '--report', join(work, 'same')], {
      timeoutMs: 60_000,
    });
    expect(same.stderr).not.toContain('"level":50');
    expect(same.code).toBe(0);
    const summary = JSON.parse(await readFile(join(work, 'same', 'summary.json'), 'utf8')) as { counts?: Record<string, number> };
    expect(JSON.stringify(summary)).toContain('/shop.v1.Orders/ListOrders');

    const planted = await startOrdersServer({ units: 43 });
    cleanups.push(() => planted.close());
    const r = await runCli(['replay', '--protocol', 'grpc', '--config', config, '--traffic', traffic, '--target', planted.url, '--gates', gates, '--report', join(work, 'planted')], {
      timeoutMs: 60_000,
    });
    expect(r.code).toBe(1);
    const diffs = (await readFile(join(work, 'planted', 'diffs.ndjson'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { endpoint: string; diffs: Array<{ path: string }> });
    expect(diffs.find((d) => d.endpoint === '/shop.v1.Orders/GetOrder')?.diffs.map((d) => d.path)).toEqual(['$.order.total.units']);
  });

  it('is served by the gRPC mock as the real server answered', async () => {
    const mock = startCli(['mock', '--traffic', traffic, '--grpc-dep', 'orders=127.0.0.1:0']);
    cleanups.push(() => mock.stop());
    const line = await mock.waitFor('grpc mock listening');
    const client = ordersClient(line.address as string);
    cleanups.push(() => client.close());
    const unary = await getOrder(client, 'o-7');
    expect(unary.reply).toEqual(direct.unary.reply);
    expect(unary.metadata.get('x-served-by')).toEqual(['orders-grpc']);
    expect(await listOrders(client, 3)).toEqual(direct.streamed);
    const rejected = (await getOrder(client, 'o-9', undefined, 'Reject').catch((e: grpc.ServiceError) => e)) as grpc.ServiceError;
    expect(rejected.code).toBe(direct.rejected.code);
    expect(rejected.details).toBe(direct.rejected.details);
    expect(await mock.stop()).toBe(0);
  });

  it('over TLS (ALPN h2) records the calls as grpc exchanges too, tagged with the negotiated protocol', async () => {
    const caPem = await makeCa('doppel grpc proxy test ca');
    const leaf = await writePem(work, 'proxy', await makeLeaf('proxy', caPem));
    const out = join(work, 'traffic-tls');
    const rec = startCli(['record', '--out', out, '--listen', '127.0.0.1:0', '--upstream', v1.url, '--service', 'orders', '--tls-cert', leaf.cert, '--tls-key', leaf.key], {
      DOPPEL_REDACT_KEY: 'k',
    });
    cleanups.push(() => rec.stop());
    const line = await rec.waitFor('record proxy listening');
    const port = (line.address as string).split(':').at(-1) as string;
    const pkg = grpc.loadPackageDefinition(loadOrdersDefinition()) as unknown as { shop: { v1: { Orders: grpc.ServiceClientConstructor } } };
    const client = new pkg.shop.v1.Orders(`localhost:${port}`, grpc.credentials.createSsl(Buffer.from(caPem.cert))) as unknown as OrdersClient;
    cleanups.push(() => client.close());
    expect((await getOrder(client, 'o-7')).reply).toEqual(direct.unary.reply);
    const rejected = (await getOrder(client, 'o-9', undefined, 'Reject').catch((e: grpc.ServiceError) => e)) as grpc.ServiceError;
    expect(rejected.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(await rec.stop()).toBe(0);
    const recorded = (await readAll([out])) as GrpcExchange[];
    expect(recorded.map((e) => `${e.protocol} ${e.grpc.method} ${e.grpc.response?.status}`).sort()).toEqual(['grpc GetOrder 0', 'grpc Reject 9']);
    expect(recorded[0]?.tags['tls.alpn']).toBe('h2');
  });
});
