/**
 * gRPC mock passthrough: with a target (`--grpc-dep NAME=LISTEN,TARGET`), a
 * call no recording answers goes to the real grpc-js server and its answer
 * comes back as the server sent it (a server stream stays a stream), counted
 * result="passthrough" and recorded beside the traffic; a dead target gives
 * UNAVAILABLE naming it, counted in doppel_upstream_failures_total, while
 * recorded calls are still answered.
 */
import { writeFile } from 'node:fs/promises';
import { createServer as createHttp2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runCli, startCli } from '../helpers/cli.js';
import { getOrder, GRPC_PROTO_DIR, grpc, listOrders, ordersClient, recordOrdersCalls, startOrdersServer } from '../helpers/grpc-peers.js';
import { readAll, tempDir } from '../helpers/http.js';
import { refusingUrl } from '../helpers/ports.js';
import { until } from '../helpers/until.js';
import { isGrpcExchange, type GrpcExchange } from '../../src/core/exchange.js';

async function scrape(admin: string): Promise<string> {
  return (await request(`http://${admin}/metrics`)).body.text();
}

describe('doppel mock --grpc-dep NAME=LISTEN,TARGET', () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('passes unmatched calls through to the real server, streaming kept, counts and records them, and learns the answer', async () => {
    const work = await tempDir('doppel-grpc-pass-');
    cleanups.push(work.cleanup);
    const traffic = join(work.dir, 'traffic');
    const config = join(work.dir, 'doppel.yaml');
    await writeFile(config, `grpc:\n  protos: [${JSON.stringify(GRPC_PROTO_DIR)}]\n`);
    // The recording answers o-1 with units 42; the live target answers 77, so a passthrough answer is told apart.
    const recorded = await startOrdersServer();
    cleanups.push(() => recorded.close());
    await recordOrdersCalls(recorded.url, traffic, (c) => getOrder(c, 'o-1'));
    const target = await startOrdersServer({ units: 77 });
    cleanups.push(() => target.close());
    const direct = ordersClient(target.target);
    cleanups.push(() => direct.close());

    const mock = startCli(['mock', '--config', config, '--traffic', traffic, '--grpc-dep', `orders=127.0.0.1:0,${target.url}`, '--admin', '127.0.0.1:0'], { DOPPEL_REDACT_KEY: 'k' });
    cleanups.push(() => mock.stop());
    const line = await mock.waitFor('grpc mock listening');
    const admin = (await mock.waitFor('admin api listening')).address as string;
    const client = ordersClient(line.address as string);
    cleanups.push(() => client.close());

    const matched = await getOrder(client, 'o-1');
    expect(matched.reply.order?.total?.units).toBe('42');
    expect(target.calls).toBe(0);

    const passed = await getOrder(client, 'o-2');
    const real = await getOrder(direct, 'o-2');
    expect(passed.reply).toEqual(real.reply);
    expect(passed.reply.order?.total?.units).toBe('77');
    expect(passed.metadata.get('x-served-by')).toEqual(['orders-grpc']);
    expect(await listOrders(client, 3)).toEqual(await listOrders(direct, 3));
    const rejected = (await getOrder(client, 'o-3', undefined, 'Reject').catch((e: grpc.ServiceError) => e)) as grpc.ServiceError;
    expect(rejected.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(rejected.details).toBe('order is closed');
    const callsSoFar = target.calls;

    // The passed-through answer is now a recording: the same call matches without the target.
    expect((await getOrder(client, 'o-2')).reply).toEqual(real.reply);
    expect(target.calls).toBe(callsSoFar);

    const metrics = await scrape(admin);
    expect(metrics).toMatch(/doppel_mock_requests_total\{service="orders",protocol="grpc",result="matched"\} 2/);
    expect(metrics).toMatch(/doppel_mock_requests_total\{service="orders",protocol="grpc",result="passthrough"\} 3/);
    expect(metrics).not.toMatch(/doppel_mock_requests_total\{service="orders",protocol="grpc",result="unmatched"\} [1-9]/);
    expect(await mock.stop()).toBe(0);

    // Recorded beside the traffic, as the HTTP mock's passthrough does.
    const passthrough = (await readAll([traffic])).filter((ex): ex is GrpcExchange => isGrpcExchange(ex) && ex.tags.source === 'mock-passthrough');
    expect(passthrough.map((ex) => `${ex.protocol} ${ex.direction} ${ex.service} /${ex.grpc.service}/${ex.grpc.method} ${ex.grpc.response?.status}`).sort()).toEqual([
      'grpc outbound orders /shop.v1.Orders/GetOrder 0',
      'grpc outbound orders /shop.v1.Orders/ListOrders 0',
      'grpc outbound orders /shop.v1.Orders/Reject 9',
    ]);
    expect(passthrough.find((ex) => ex.grpc.method === 'ListOrders')?.grpc.response?.messages).toHaveLength(3);
  });

  it('answers UNAVAILABLE naming a dead target, counts the failure, and still serves recorded calls', async () => {
    const work = await tempDir('doppel-grpc-pass-dead-');
    cleanups.push(work.cleanup);
    const traffic = join(work.dir, 'traffic');
    const recorded = await startOrdersServer();
    cleanups.push(() => recorded.close());
    await recordOrdersCalls(recorded.url, traffic, (c) => getOrder(c, 'o-1'));
    const dead = await refusingUrl();

    const mock = startCli(['mock', '--traffic', traffic, '--grpc-dep', `orders=127.0.0.1:0,${dead}`, '--admin', '127.0.0.1:0'], { DOPPEL_REDACT_KEY: 'k' });
    cleanups.push(() => mock.stop());
    const line = await mock.waitFor('grpc mock listening');
    const admin = (await mock.waitFor('admin api listening')).address as string;
    const client = ordersClient(line.address as string);
    cleanups.push(() => client.close());

    const failed = (await getOrder(client, 'o-2').catch((e: grpc.ServiceError) => e)) as grpc.ServiceError;
    expect(failed.code).toBe(grpc.status.UNAVAILABLE);
    expect(failed.details).toContain(`doppel mock: passthrough to ${dead} failed`);
    expect(failed.details).toContain('ECONNREFUSED');
    expect((await getOrder(client, 'o-1')).reply.order?.total?.units).toBe('42');

    const metrics = await scrape(admin);
    expect(metrics).toMatch(/doppel_upstream_failures_total\{service="orders",reason="refused"\} 1/);
    expect(metrics).toMatch(/doppel_mock_requests_total\{service="orders",protocol="grpc",result="passthrough"\} 1/);
    expect(metrics).toMatch(/doppel_mock_requests_total\{service="orders",protocol="grpc",result="matched"\} 1/);
    // The failed target session does not hold the stop.
    expect(await mock.stop()).toBe(0);
  });

  it('gives up on a target that sends no answer within mocks[].target_timeout, as UNAVAILABLE counted as a timeout', async () => {
    const work = await tempDir('doppel-grpc-pass-slow-');
    cleanups.push(work.cleanup);
    const traffic = join(work.dir, 'traffic');
    const recorded = await startOrdersServer();
    cleanups.push(() => recorded.close());
    await recordOrdersCalls(recorded.url, traffic, (c) => getOrder(c, 'o-1'));
    // Hang never answers: its headers never come.
    const target = await startOrdersServer();
    cleanups.push(() => target.close());
    const config = join(work.dir, 'doppel.yaml');
    await writeFile(
      config,
      stringify({ mocks: [{ service: 'orders', protocol: 'grpc', listen: '127.0.0.1:0', traffic, target: target.url, target_timeout: '1s', record_out: join(work.dir, 'passthrough') }] }),
    );
    const mock = startCli(['mock', '--config', config, '--admin', '127.0.0.1:0'], { DOPPEL_REDACT_KEY: 'k' });
    cleanups.push(() => mock.stop());
    const line = await mock.waitFor('grpc mock listening');
    const admin = (await mock.waitFor('admin api listening')).address as string;
    const client = ordersClient(line.address as string);
    cleanups.push(() => client.close());

    const t0 = Date.now();
    const failed = (await getOrder(client, 'o-1', undefined, 'Hang').catch((e: grpc.ServiceError) => e)) as grpc.ServiceError;
    expect(failed.code).toBe(grpc.status.UNAVAILABLE);
    expect(failed.details).toContain('no response headers within 1000 ms');
    expect(Date.now() - t0).toBeLessThan(10_000);
    await until('the target saw the call cancelled', () => target.cancelled === 1);
    expect(await scrape(admin)).toMatch(/doppel_upstream_failures_total\{service="orders",reason="timeout"\} 1/);
    expect(await mock.stop()).toBe(0);
    // The call that got no answer is recorded as such, in record_out.
    const stored = (await readAll([join(work.dir, 'passthrough')])).filter(isGrpcExchange);
    expect(stored.map((ex) => [ex.grpc.method, ex.grpc.response, ex.grpc.error?.code])).toEqual([['Hang', null, 'DOPPEL_UPSTREAM_TIMEOUT']]);
  });

  it('refuses a mocks[] gRPC target that is not a URL, exit 2 naming the key', async () => {
    const work = await tempDir('doppel-grpc-pass-badcfg-');
    cleanups.push(work.cleanup);
    const traffic = join(work.dir, 'traffic');
    const config = join(work.dir, 'doppel.yaml');
    await writeFile(config, stringify({ mocks: [{ service: 'orders', protocol: 'grpc', listen: '127.0.0.1:0', traffic, target: '127.0.0.1:9051' }] }));
    const r = await runCli(['mock', '--config', config]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('mocks[orders].target: 127.0.0.1:9051 must be http://host:port (h2c) or https://host:port for a gRPC mock');
  });

  it('refuses a target that is not an http:// or https:// URL, exit 2', async () => {
    const work = await tempDir('doppel-grpc-pass-bad-');
    cleanups.push(work.cleanup);
    const r = await runCli(['mock', '--traffic', work.dir, '--grpc-dep', 'orders=127.0.0.1:0,127.0.0.1:9']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--grpc-dep orders: target 127.0.0.1:9 must be an http:// (h2c) or https:// URL');
  });

  it('gives the client INTERNAL, not a hang, when the target ends a call without a grpc-status', async () => {
    const work = await tempDir('doppel-grpc-pass-nostatus-');
    cleanups.push(work.cleanup);
    const traffic = join(work.dir, 'traffic');
    const recorded = await startOrdersServer();
    cleanups.push(() => recorded.close());
    await recordOrdersCalls(recorded.url, traffic, (c) => getOrder(c, 'o-1'));
    // Node's own HTTP/2 server as a broken gRPC peer: headers and one empty message, then END_STREAM without trailers.
    const broken = createHttp2Server((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/grpc' });
      res.end(Buffer.from([0, 0, 0, 0, 0]));
    });
    await new Promise<void>((resolve) => broken.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => broken.close(() => resolve())));
    const target = `http://127.0.0.1:${(broken.address() as AddressInfo).port}`;

    const mock = startCli(['mock', '--traffic', traffic, '--grpc-dep', `orders=127.0.0.1:0,${target}`], { DOPPEL_REDACT_KEY: 'k' });
    cleanups.push(() => mock.stop());
    const client = ordersClient((await mock.waitFor('grpc mock listening')).address as string);
    cleanups.push(() => client.close());
    const failed = (await getOrder(client, 'o-2', 10_000).catch((e: grpc.ServiceError) => e)) as grpc.ServiceError;
    expect(failed.code).toBe(grpc.status.INTERNAL);
    expect(failed.details).toBe(`doppel mock: ${target} ended the call without a grpc-status`);
  });
});
