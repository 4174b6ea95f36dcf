import { AsyncLocalStorage, AsyncResource, createHook, executionAsyncId } from 'node:async_hooks';
import { connect, createServer, type ClientHttp2Session, type ClientHttp2Stream, type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCostlyAsyncBind, leanAsyncBind, requestWithLeanAsyncBind } from '../../../src/core/lean-async-bind.js';

const als = new AsyncLocalStorage<string>();
const nodeBind = Object.getOwnPropertyDescriptor(AsyncResource.prototype, 'bind')?.value as unknown;
/** Node's bind as it runs: the typings leave out its thisArg */
const nodeBindWithThis = nodeBind as (this: AsyncResource, fn: typeof probe, thisArg?: unknown) => typeof probe;

/** What a bound function sees when called: the store, its `this`, its arguments and the running async id. */
function probe(this: unknown, ...args: unknown[]): unknown[] {
  return [als.getStore(), this, args, executionAsyncId()];
}

describe('the lean AsyncResource bind', () => {
  it("runs the function as Node's bind does: the resource's scope and store, the caller's this and arguments, or the given this", () => {
    const resource = als.run('ctx-bind', () => new AsyncResource('test.bind'));
    const self = { name: 'caller' };
    const lean = leanAsyncBind.call(resource, probe);
    const node = nodeBindWithThis.call(resource, probe);
    const leanSeen = lean.call(self, 1, 'two');
    expect(leanSeen).toEqual(node.call(self, 1, 'two'));
    expect(leanSeen).toEqual(['ctx-bind', self, [1, 'two'], resource.asyncId()]);
    const given = { name: 'given' };
    const leanGiven = leanAsyncBind.call(resource, probe, given).call(self, 3);
    expect(leanGiven).toEqual(nodeBindWithThis.call(resource, probe, given).call(self, 3));
    expect(leanGiven).toEqual(['ctx-bind', given, [3], resource.asyncId()]);
  });

  it('leaves out only the deprecated asyncResource property', () => {
    expect(Object.getOwnPropertyDescriptor(leanAsyncBind.call(new AsyncResource('t'), probe), 'asyncResource')).toBeUndefined();
    // the reason it exists: this Node builds the property on every bind
    expect(hasCostlyAsyncBind).toBe(Object.getOwnPropertyDescriptor(new AsyncResource('t').bind(probe), 'asyncResource') !== undefined);
  });
});

describe('requestWithLeanAsyncBind over a real h2c server', () => {
  let server: Http2Server;
  let origin: string;
  beforeAll(async () => {
    server = createServer();
    server.on('stream', (stream, headers) => {
      stream.respond({ ':status': 200, 'x-path': String(headers[':path']) });
      stream.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  /** The stream's answer, with the store its 'response' listener ran in. */
  function answer(stream: ClientHttp2Stream): Promise<{ path: string; store: string | undefined; body: string }> {
    return new Promise((resolve, reject) => {
      let body = '';
      let path = '';
      let store: string | undefined;
      stream.on('response', (h) => {
        path = String(h['x-path']);
        store = als.getStore();
      });
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => (body += d));
      stream.on('end', () => resolve({ path, store, body }));
      stream.on('error', reject);
    });
  }

  /**
   * Two streams' answers, and how many of the streams' native handles Node opened inside the
   * request's own async resource (its PendingRequest): what the bound connect callback's scope decides.
   */
  async function twoStreams(request: (s: ClientHttp2Session, path: string) => ClientHttp2Stream): Promise<{ answers: unknown[]; openedInTheirRequest: number }> {
    const types = new Map<number, string>();
    let openedInTheirRequest = 0;
    const hook = createHook({
      init(id, type, trigger) {
        types.set(id, type);
        if (type === 'HTTP2STREAM' && types.get(trigger) === 'PendingRequest') openedInTheirRequest++;
      },
    }).enable();
    const session = connect(origin);
    try {
      // the first is asked for before the session has connected, so Node calls the bound function later, from 'connect'
      const early = als.run('ctx-early', () => request(session, '/early'));
      await new Promise<void>((r) => (session.connecting ? session.once('connect', () => r()) : r()));
      const late = als.run('ctx-late', () => request(session, '/late'));
      return { answers: await Promise.all([answer(early), answer(late)]), openedInTheirRequest };
    } finally {
      hook.disable();
      session.close();
    }
  }

  it("answers each stream in the async context it was asked for, as session.request() does, and puts Node's bind back", async () => {
    const viaNode = await twoStreams((s, path) => s.request({ ':path': path }));
    const viaLean = await twoStreams((s, path) => requestWithLeanAsyncBind(s, { ':path': path }, { endStream: true }));
    expect(viaNode).toEqual({
      answers: [
        { path: '/early', store: 'ctx-early', body: 'ok' },
        { path: '/late', store: 'ctx-late', body: 'ok' },
      ],
      // both client streams, the deferred one and the one opened at once (the server's are not)
      openedInTheirRequest: 2,
    });
    expect(viaLean).toEqual(viaNode);
    expect(Object.getOwnPropertyDescriptor(AsyncResource.prototype, 'bind')?.value).toBe(nodeBind);
  });

  it("puts Node's bind back when request() throws", async () => {
    const session = connect(origin);
    await new Promise<void>((r) => session.once('connect', () => r()));
    session.destroy();
    expect(() => requestWithLeanAsyncBind(session, { ':path': '/' })).toThrow(expect.objectContaining({ code: 'ERR_HTTP2_INVALID_SESSION' }));
    expect(Object.getOwnPropertyDescriptor(AsyncResource.prototype, 'bind')?.value).toBe(nodeBind);
  });
});
