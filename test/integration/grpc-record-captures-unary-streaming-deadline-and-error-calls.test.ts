import { afterAll, describe, expect, it } from 'vitest';
import type { GrpcExchange } from '../../src/core/exchange.js';
import { startCli } from '../helpers/cli.js';
import { until } from '../helpers/until.js';
import { getOrder, grpc, listOrders, ordersClient, REJECT_DETAILS, startOrdersServer } from '../helpers/grpc-peers.js';
import { readAll, tempDir } from '../helpers/http.js';

describe('doppel record with a gRPC upstream', () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('relays unary, server-streaming, deadline and error calls unchanged and records each as a grpc exchange', async () => {
    const traffic = await tempDir('doppel-grpc-');
    cleanups.push(traffic.cleanup);
    const server = await startOrdersServer();
    cleanups.push(() => server.close());
    const rec = startCli(['record', '--out', traffic.dir, '--listen', '127.0.0.1:0', '--upstream', server.url, '--protocol', 'grpc', '--service', 'orders'], {
      DOPPEL_REDACT_KEY: 'test-key',
    });
    cleanups.push(() => rec.stop());
    const line = await rec.waitFor('grpc record listener listening');
    const client = ordersClient(line.address as string);
    cleanups.push(() => client.close());

    const unary = await getOrder(client, 'o-7');
    expect(unary.reply.order).toEqual({ id: 'o-7', total: { currency: 'EUR', units: '42' }, items: ['book', 'pen'], createdAtMs: '1700000000000' });
    expect(unary.metadata.get('x-served-by')).toEqual(['orders-grpc']);

    const streamed = await listOrders(client, 3);
    expect(streamed.map((o) => o?.id)).toEqual(['o-1', 'o-2', 'o-3']);

    const late = await getOrder(client, 'o-1', 200, 'Hang').catch((e: grpc.ServiceError) => e);
    expect((late as grpc.ServiceError).code).toBe(grpc.status.DEADLINE_EXCEEDED);
    // The client's cancel reaches the server through the proxy.
    await until('the server to see the cancelled call', () => server.cancelled === 1);

    const rejected = await getOrder(client, 'o-9', undefined, 'Reject').catch((e: grpc.ServiceError) => e);
    expect((rejected as grpc.ServiceError).code).toBe(grpc.status.FAILED_PRECONDITION);
    expect((rejected as grpc.ServiceError).details).toBe('order is closed');
    expect((rejected as grpc.ServiceError).metadata.get('grpc-status-details-bin')).toHaveLength(1);

    expect(await rec.stop()).toBe(0);
    const exchanges = (await readAll([traffic.dir])) as GrpcExchange[];
    expect(exchanges.map((e) => `${e.protocol} ${e.grpc.service}/${e.grpc.method}`).sort()).toEqual([
      'grpc shop.v1.Orders/GetOrder',
      'grpc shop.v1.Orders/Hang',
      'grpc shop.v1.Orders/ListOrders',
      'grpc shop.v1.Orders/Reject',
    ]);
    const by = (m: string) => exchanges.find((e) => e.grpc.method === m) as GrpcExchange;
    const get = by('GetOrder');
    expect(get.service).toBe('orders');
    expect(get.direction).toBe('inbound');
    expect(get.grpc.request.messages).toHaveLength(1);
    expect(get.grpc.response?.status).toBe(0);
    expect(get.grpc.response?.messages).toHaveLength(1);
    expect(get.grpc.response?.metadata).toContainEqual(['x-served-by', 'orders-grpc']);
    expect(get.grpc.request.metadata).toContainEqual(['content-type', 'application/grpc']);
    expect(by('ListOrders').grpc.response?.messages).toHaveLength(3);
    const hang = by('Hang');
    // Both ends hold the 200 ms deadline: the client's clock starts first, so it usually cancels
    // (recorded as CANCELLED, no response); on a loaded machine the server's own deadline can fire
    // first, and then its DEADLINE_EXCEEDED answer is what went over the wire and is recorded.
    if (hang.grpc.response === null) {
      expect(hang.grpc.error?.code).toBe('CANCELLED');
    } else {
      expect(hang.grpc.response.status).toBe(grpc.status.DEADLINE_EXCEEDED);
      expect(hang.grpc.response.messages).toEqual([]);
    }
    expect(hang.grpc.request.metadata.some(([k]) => k === 'grpc-timeout')).toBe(true);
    const reject = by('Reject').grpc.response;
    expect(reject?.status).toBe(9);
    expect(reject?.message).toBe('order is closed');
    expect(reject?.details).toEqual(REJECT_DETAILS);
  });
});
