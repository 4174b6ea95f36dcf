/**
 * The record proxy speaks HTTP/2 on its one port: curl with prior knowledge
 * (h2c) and over TLS (ALPN h2), nghttp, and Node's http2 client reach a Node
 * http2 upstream through it; HTTP/1.1 clients keep working on the same port.
 * The recorded exchange has `http.version` "2", the :authority as
 * `authority`, no pseudo-headers among the headers, and the upstream's
 * trailers. Streams are independent: with one of 100 concurrent streams held
 * by the upstream, the other 99 complete.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { connect as h2connect, createSecureServer, createServer as createH2Server, type Http2Server, type Http2SecureServer, type ServerHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { startHttpCaptureProxy, type HttpCaptureProxy } from '../../src/capture/http-capture-proxy.js';
import { loadServerTls, loadTargetTls } from '../../src/core/tls.js';
import type { HttpExchange } from '../../src/core/exchange.js';
import { createTestRecorder, readExchanges, silentLogger, tempDir, TIMEOUTS, type RecorderSetup } from '../helpers/http.js';
import { makeCa, makeLeaf, writePem, type PemFiles } from '../helpers/tls-fixtures.js';
import { requireTool } from '../helpers/services.js';
import { until } from '../helpers/until.js';

const run = promisify(execFile);

/** Echoes method, path and body as JSON, with a trailer carrying the body length; /hold waits for release(). */
function serveStream(held: Array<() => void>) {
  return (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const answer = () => {
        if (stream.destroyed) return;
        const body = Buffer.concat(chunks);
        stream.respond({ ':status': 200, 'content-type': 'application/json', 'x-upstream': 'h2' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'x-body-length': String(body.length) }));
        stream.end(JSON.stringify({ method: headers[':method'], path: headers[':path'], body: body.toString() }));
      };
      if (headers[':path'] === '/hold') held.push(answer);
      else answer();
    });
  };
}

function listen(server: Http2Server | Http2SecureServer): Promise<number> {
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r((server.address() as AddressInfo).port)));
}

function byUrl(exchanges: HttpExchange[], url: string): HttpExchange {
  const ex = exchanges.find((e) => e.http.request.url === url);
  if (ex === undefined) throw new Error(`no exchange for ${url}`);
  return ex;
}

describe('record proxy over HTTP/2', () => {
  const { log } = silentLogger();
  const held: Array<() => void> = [];
  let dir: { dir: string; cleanup: () => Promise<void> };
  let setup: RecorderSetup;
  let h2c: Http2Server;
  let h2s: Http2SecureServer;
  let clear: HttpCaptureProxy;
  let secure: HttpCaptureProxy;
  let ca: PemFiles;
  const recorded = async (n: number) => {
    await until(`${n} recorded exchanges`, async () => {
      await setup.recorder.flush();
      return (await readExchanges(dir.dir)).length >= n;
    });
    return readExchanges(dir.dir);
  };

  beforeAll(async () => {
    dir = await tempDir('doppel-h2-');
    setup = await createTestRecorder(dir.dir);
    h2c = createH2Server();
    h2c.on('stream', serveStream(held));
    const h2cPort = await listen(h2c);
    // The TLS upstream asks for a client certificate signed by the test CA: the proxy presents one.
    const caPem = await makeCa('doppel h2 test ca');
    ca = await writePem(dir.dir, 'ca', caPem);
    const upstreamLeaf = await makeLeaf('upstream', caPem);
    const proxyLeaf = await writePem(dir.dir, 'proxy', await makeLeaf('proxy', caPem));
    const clientLeaf = await writePem(dir.dir, 'client', await makeLeaf('doppel-client', caPem));
    h2s = createSecureServer({ cert: upstreamLeaf.cert, key: upstreamLeaf.key, ca: caPem.cert, requestCert: true, rejectUnauthorized: true });
    h2s.on('stream', serveStream(held));
    const h2sPort = await listen(h2s);
    const common = { listen: '127.0.0.1:0', service: 'app', direction: 'inbound' as const, sink: setup.recorder, maxBodyBytes: 1024 * 1024, timeouts: TIMEOUTS, rewriteHost: false, log };
    clear = await startHttpCaptureProxy({ ...common, target: `http://127.0.0.1:${h2cPort}` });
    secure = await startHttpCaptureProxy({
      ...common,
      target: `https://127.0.0.1:${h2sPort}`,
      tls: await loadServerTls({ cert: proxyLeaf.cert, key: proxyLeaf.key }, { label: 'record.tls', log }),
      targetTls: loadTargetTls({ ca: ca.cert, cert: clientLeaf.cert, key: clientLeaf.key }, 'record.upstream_tls'),
    });
  });

  afterAll(async () => {
    for (const answer of held.splice(0)) answer();
    await clear?.close(100);
    await secure?.close(100);
    await setup?.recorder.close();
    await new Promise((r) => h2c?.close(r));
    await new Promise((r) => h2s?.close(r));
    await dir?.cleanup();
  });

  it('curl --http2-prior-knowledge (h2c) is proxied and recorded as version 2 with authority and trailers', async (ctx) => {
    const curl = requireTool(ctx, 'curl');
    const { stdout } = await run(curl, ['-sS', '-i', '--http2-prior-knowledge', '-H', 'te: trailers', '-H', 'x-client: one', '--data-binary', 'hello h2c', `${clear.url}/orders?id=1`]);
    expect(stdout).toMatch(/^HTTP\/2 200/);
    expect(stdout).toContain('x-upstream: h2');
    expect(stdout).toContain('{"method":"POST","path":"/orders?id=1","body":"hello h2c"}');
    const ex = byUrl(await recorded(1), '/orders?id=1');
    expect(ex.http.version).toBe('2');
    expect(ex.http.request.method).toBe('POST');
    expect(ex.http.request.authority).toBe(clear.address);
    expect(ex.http.request.headers.some(([k]) => k.startsWith(':'))).toBe(false);
    expect(ex.http.request.headers).toContainEqual(['x-client', 'one']);
    expect(ex.http.request.body).toBe('hello h2c');
    expect(ex.http.response?.status).toBe(200);
    expect(ex.http.response?.trailers).toEqual([['x-body-length', '9']]);
  });

  it('HTTP/1.1 clients keep working on the same clear-text port, recorded as version 1.1', async (ctx) => {
    const curl = requireTool(ctx, 'curl');
    // The upstream speaks h2c only: an HTTP/1.1 client's request still reaches it when it arrived as HTTP/2.
    const { stdout } = await run(curl, ['-sS', '-i', '--http1.1', `${clear.url}/h1-on-h2-port`]);
    expect(stdout).toMatch(/^HTTP\/1.1 50[24]/);
    const ex = byUrl(await recorded(2), '/h1-on-h2-port');
    expect(ex.http.version).toBe('1.1');
    expect(ex.http.request.authority).toBeUndefined();
  });

  it('nghttp (h2c prior knowledge) gets the answer and its trailers', async (ctx) => {
    const nghttp = requireTool(ctx, 'nghttp', 'nghttp2-client');
    const { stdout } = await run(nghttp, ['-v', '-H', 'te: trailers', `${clear.url}/nghttp`]);
    expect(stdout).toContain('{"method":"GET","path":"/nghttp","body":""}');
    // the trailer arrives as a HEADERS frame that ends the stream, after the DATA
    expect(stdout).toMatch(/recv DATA frame[\s\S]*recv \(stream_id=13\) x-body-length: 0\n[^\n]*recv HEADERS frame[^\n]*\n\s*; END_STREAM/);
    const ex = byUrl(await recorded(3), '/nghttp');
    expect(ex.http.version).toBe('2');
    expect(ex.http.request.headers.find(([k]) => k === 'user-agent')?.[1]).toMatch(/^nghttp2/);
  });

  it('a connection-specific field in an HTTP/2 request (RFC 9113 §8.2.2) resets that stream; nothing is recorded or forwarded', async (ctx) => {
    const nghttp = requireTool(ctx, 'nghttp', 'nghttp2-client');
    const before = (await recorded(3)).length;
    const bad = await run(nghttp, ['-v', '-H', 'connection: keep-alive', `${clear.url}/malformed`]).catch((e: { stdout: string }) => e);
    expect(bad.stdout).toMatch(/RST_STREAM[\s\S]*PROTOCOL_ERROR/);
    const good = await run(nghttp, [`${clear.url}/after-malformed`]);
    expect(good.stdout).toContain('"path":"/after-malformed"');
    const all = await recorded(before + 1);
    expect(all.map((e) => e.http.request.url)).not.toContain('/malformed');
  });

  it('over TLS, curl --http2 negotiates h2 by ALPN; the proxy presents its client certificate upstream', async (ctx) => {
    const curl = requireTool(ctx, 'curl');
    const { stdout } = await run(curl, ['-sS', '-i', '--http2', '--cacert', ca.cert, '-d', 'tls body', `${secure.url.replace('127.0.0.1', 'localhost')}/secure`]);
    expect(stdout).toMatch(/^HTTP\/2 200/);
    expect(stdout).toContain('"body":"tls body"');
    const ex = byUrl(await recorded(4), '/secure');
    expect(ex.http.version).toBe('2');
    expect(ex.tags['tls.alpn']).toBe('h2');
    expect(ex.http.request.authority).toBe(`localhost:${secure.address.split(':').pop() as string}`);
    expect(ex.http.response?.trailers).toEqual([['x-body-length', '8']]);
  });

  it('100 concurrent streams on one connection: the one the upstream holds delays none of the other 99', async () => {
    const session = h2connect(clear.url);
    try {
      const done: string[] = [];
      const get = (path: string) =>
        new Promise<number>((resolve, reject) => {
          const req = session.request({ ':path': path });
          let status = 0;
          req.on('response', (h) => (status = Number(h[':status'])));
          req.on('data', () => undefined);
          req.on('end', () => {
            done.push(path);
            resolve(status);
          });
          req.on('error', reject);
        });
      const heldBefore = held.length;
      const holding = get('/hold');
      const others = Array.from({ length: 99 }, (_, i) => get(`/stream/${i}`));
      expect(await Promise.all(others)).toEqual(Array(99).fill(200));
      expect(done).not.toContain('/hold');
      await until('the held stream reached the upstream', () => held.length > heldBefore);
      (held.splice(heldBefore, 1)[0] as () => void)();
      expect(await holding).toBe(200);
      expect(done.at(-1)).toBe('/hold');
    } finally {
      session.close();
    }
  });
});
