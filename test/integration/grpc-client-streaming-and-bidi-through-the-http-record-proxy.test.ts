/**
 * Client-streaming and bidirectional gRPC calls through the ordinary HTTP
 * record proxy (h2c): the messages flow both ways while the call is open
 * (a bidi reply arrives before the client ends its side), and the call is
 * stored as one grpc exchange holding every message of each side.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { GrpcExchange } from '../../src/core/exchange.js';
import { startCli } from '../helpers/cli.js';
import { grpc } from '../helpers/grpc-peers.js';
import { readAll, tempDir } from '../helpers/http.js';

const identity = (b: Buffer) => b;
/** Messages as raw bytes: the proxy and the record never need the schema. */
const CALC = {
  Sum: { path: '/test.v1.Calc/Sum', requestStream: true, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
  Echo: { path: '/test.v1.Calc/Echo', requestStream: true, responseStream: true, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
} satisfies grpc.ServiceDefinition;

async function startCalc(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = new grpc.Server();
  server.addService(CALC, {
    Sum: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      let total = 0;
      call.on('data', (m: Buffer) => (total += Number(m.toString())));
      call.on('end', () => cb(null, Buffer.from(String(total))));
    },
    Echo: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (m: Buffer) => call.write(Buffer.from(`echo:${m.toString()}`)));
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((r) => server.tryShutdown(() => r())) };
}

describe('client-streaming and bidi gRPC through the HTTP record proxy', () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('relays both directions while the call is open and records every message of each side', async () => {
    const work = await tempDir('doppel-grpc-streams-');
    cleanups.push(work.cleanup);
    const traffic = join(work.dir, 'traffic');
    const calc = await startCalc();
    cleanups.push(() => calc.close());
    const rec = startCli(['record', '--out', traffic, '--listen', '127.0.0.1:0', '--upstream', calc.url, '--service', 'calc'], { DOPPEL_REDACT_KEY: 'k' });
    cleanups.push(() => rec.stop());
    const line = await rec.waitFor('record proxy listening');
    const Client = grpc.makeGenericClientConstructor(CALC, 'Calc');
    const client = new Client(line.address as string, grpc.credentials.createInsecure()) as unknown as Record<string, (...a: unknown[]) => unknown>;
    cleanups.push(() => (client as unknown as grpc.Client).close());

    const sum = await new Promise<string>((resolve, reject) => {
      const call = (client.Sum as (cb: (e: grpc.ServiceError | null, r: Buffer) => void) => grpc.ClientWritableStream<Buffer>)((e, r) => (e ? reject(e) : resolve(r.toString())));
      for (const n of ['1', '2', '3', '4']) call.write(Buffer.from(n));
      call.end();
    });
    expect(sum).toBe('10');

    // Each reply is awaited before the next message goes: a proxy that held the request body until its end would hang here.
    const call = (client.Echo as () => grpc.ClientDuplexStream<Buffer, Buffer>)();
    const replies: string[] = [];
    for (const m of ['a', 'b', 'c']) {
      const next = new Promise<string>((resolve) => call.once('data', (d: Buffer) => resolve(d.toString())));
      call.write(Buffer.from(m));
      replies.push(await next);
    }
    const ended = new Promise<void>((resolve) => call.on('status', () => resolve()));
    call.end();
    await ended;
    expect(replies).toEqual(['echo:a', 'echo:b', 'echo:c']);

    expect(await rec.stop()).toBe(0);
    const exchanges = (await readAll([traffic])) as GrpcExchange[];
    const by = (m: string) => exchanges.find((e) => e.protocol === 'grpc' && e.grpc.method === m) as GrpcExchange;
    const decode = (msgs: readonly string[]) => msgs.map((m) => Buffer.from(m, 'base64').toString());
    expect(decode(by('Sum').grpc.request.messages)).toEqual(['1', '2', '3', '4']);
    expect(decode(by('Sum').grpc.response?.messages ?? [])).toEqual(['10']);
    expect(decode(by('Echo').grpc.request.messages)).toEqual(['a', 'b', 'c']);
    expect(decode(by('Echo').grpc.response?.messages ?? [])).toEqual(['echo:a', 'echo:b', 'echo:c']);
    expect(by('Echo').grpc.response?.status).toBe(0);
  });
});
