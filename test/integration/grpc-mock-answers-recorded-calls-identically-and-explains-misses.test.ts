import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startCli } from '../helpers/cli.js';
import { getOrder, GRPC_PROTO_DIR, grpc, listOrders, ordersClient, REJECT_DETAILS, startOrdersServer } from '../helpers/grpc-peers.js';
import { decodeStatusDetails } from '../../src/protocols/grpc/status.js';
import { tempDir } from '../helpers/http.js';

describe('doppel mock --grpc-dep', () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('answers recorded calls as the real server did, stubs first, and misses with UNIMPLEMENTED or NOT_FOUND naming the nearest recording', async () => {
    const work = await tempDir('doppel-grpc-mock-');
    cleanups.push(work.cleanup);
    const traffic = join(work.dir, 'traffic');
    const config = join(work.dir, 'doppel.yaml');
    await writeFile(config, `grpc:\n  protos: [${JSON.stringify(GRPC_PROTO_DIR)}]\n`);
    const server = await startOrdersServer();
    cleanups.push(() => server.close());

    // Record through the gRPC dependency port, then stop the real server.
    const rec = startCli(['record', '--out', traffic, '--grpc-dep', `orders=127.0.0.1:0,${server.url}`], { DOPPEL_REDACT_KEY: 'k' });
    cleanups.push(() => rec.stop());
    const recLine = await rec.waitFor('grpc record listener listening');
    const recClient = ordersClient(recLine.address as string);
    const real = {
      unary: await getOrder(recClient, 'o-7'),
      streamed: await listOrders(recClient, 2),
      rejected: (await getOrder(recClient, 'o-9', undefined, 'Reject').catch((e: grpc.ServiceError) => e)) as grpc.ServiceError,
    };
    recClient.close();
    expect(await rec.stop()).toBe(0);
    await server.close();

    const stubs = join(work.dir, 'stubs.json');
    await writeFile(
      stubs,
      JSON.stringify({
        mappings: [
          { request: { method: '/shop.v1.Orders/GetOrder', equalToJson: { id: 'stubbed' } }, response: { json: { order: { id: 'stubbed', items: ['from-stub'] } }, metadata: { 'x-stub': 'yes' } } },
        ],
      }),
    );
    const mock = startCli(['mock', '--config', config, '--traffic', traffic, '--grpc-dep', 'orders=127.0.0.1:0', '--grpc-stubs', stubs, '--admin', '127.0.0.1:0']);
    cleanups.push(() => mock.stop());
    const mockLine = await mock.waitFor('grpc mock listening');
    const admin = await mock.waitFor('admin api listening');
    const client = ordersClient(mockLine.address as string);
    cleanups.push(() => client.close());

    const unary = await getOrder(client, 'o-7');
    expect(unary.reply).toEqual(real.unary.reply);
    expect(unary.metadata.get('x-served-by')).toEqual(['orders-grpc']);
    expect(await listOrders(client, 2)).toEqual(real.streamed);
    const rejected = (await getOrder(client, 'o-9', undefined, 'Reject').catch((e: grpc.ServiceError) => e)) as grpc.ServiceError;
    expect(rejected.code).toBe(real.rejected.code);
    expect(rejected.details).toBe(real.rejected.details);
    const details = rejected.metadata.get('grpc-status-details-bin')[0] as Buffer;
    expect(decodeStatusDetails(details.toString('base64'))).toEqual(REJECT_DETAILS);

    const stubbed = await getOrder(client, 'stubbed');
    expect(stubbed.reply.order?.items).toEqual(['from-stub']);
    expect(stubbed.metadata.get('x-stub')).toEqual(['yes']);

    const unknown = (await getOrder(client, 'o-7', undefined, 'Hang').catch((e: grpc.ServiceError) => e)) as grpc.ServiceError;
    expect(unknown.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(unknown.details).toContain('/shop.v1.Orders/Hang');
    const other = (await getOrder(client, 'o-8').catch((e: grpc.ServiceError) => e)) as grpc.ServiceError;
    expect(other.code).toBe(grpc.status.NOT_FOUND);
    expect(other.details).toContain('differs at $.id');

    const listed = (await (await request(`http://${admin.address as string}/api/unmatched`)).body.json()) as { calls?: unknown[] } | unknown[];
    expect(JSON.stringify(listed)).toContain('"o-8"');
    const metrics = await (await request(`http://${admin.address as string}/metrics`)).body.text();
    expect(metrics).toMatch(/doppel_mock_requests_total\{service="orders",protocol="grpc",result="matched"\} 4/);
    expect(metrics).toMatch(/doppel_mock_requests_total\{service="orders",protocol="grpc",result="unmatched"\} 2/);
  });

  it('refuses stubs that name a method the descriptors do not define, naming the file', async () => {
    const work = await tempDir('doppel-grpc-stubs-');
    cleanups.push(work.cleanup);
    const config = join(work.dir, 'doppel.yaml');
    await writeFile(config, `grpc:\n  protos: [${JSON.stringify(GRPC_PROTO_DIR)}]\n`);
    const stubs = join(work.dir, 'stubs.json');
    await writeFile(stubs, JSON.stringify({ mappings: [{ request: { method: '/shop.v1.Orders/Nope' }, response: {} }] }));
    const r = await runCli(['mock', '--config', config, '--grpc-dep', 'orders=127.0.0.1:0', '--grpc-stubs', stubs]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('stubs.json: mappings[0].request.method: the descriptors define no /shop.v1.Orders/Nope');
  });
});
