/**
 * The record proxy relays HTTP/2 clients stream by stream: trailers reach
 * the client and the record, a Trailers-Only answer (a head that ends the
 * stream) reaches the client as one HEADERS frame with END_STREAM, a request
 * body and split cookies are recorded as the compatibility path recorded
 * them, a GET with a body and a POST without one reach the upstream as the
 * client sent them, a hop-by-hop field in the upstream's head is dropped,
 * and a client that resets its stream mid-response cancels the upstream
 * stream and is recorded as CLIENT_CLOSED without counting an upstream
 * failure. An https:// upstream is reached over the proxy's own TLS
 * session, verified with the target's CA and negotiated h2 by ALPN, and
 * trailers and Trailers-Only go through it the same way; one whose ALPN
 * answer is HTTP/1.1 is still reached (undici's pool); one whose certificate
 * the proxy cannot verify is a 502 naming the problem.
 */
import {
  connect as h2connect,
  constants,
  createSecureServer,
  type ClientHttp2Session,
  type Http2SecureServer,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpCaptureProxy, type HttpCaptureProxy } from '../../src/capture/http-capture-proxy.js';
import type { HttpExchange } from '../../src/core/exchange.js';
import { createTestRecorder, readExchanges, silentLogger, tempDir, TIMEOUTS, type RecorderSetup } from '../helpers/http.js';
import { until } from '../helpers/until.js';
import { startH2cProxyRig, type H2cProxyRig } from '../helpers/h2c-proxy-rig.js';
import { loadTargetTls } from '../../src/core/tls.js';
import { makeCa, makeLeaf, writePem } from '../helpers/tls-fixtures.js';

interface H2Answer {
  head: IncomingHttpHeaders;
  /** the END_STREAM flag of the response's HEADERS frame */
  isEndInHead: boolean;
  body: string;
  trailers: IncomingHttpHeaders | undefined;
}

function h2request(session: ClientHttp2Session, head: Record<string, string | string[]>, body?: string): Promise<H2Answer> {
  const stream = session.request(head, { endStream: body === undefined });
  if (body !== undefined) stream.end(body);
  return new Promise((resolve, reject) => {
    let answer: H2Answer = { head: {}, isEndInHead: false, body: '', trailers: undefined };
    const chunks: Buffer[] = [];
    stream.on('response', (h: IncomingHttpHeaders, flags: number) => {
      answer = { ...answer, head: h, isEndInHead: (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0 };
    });
    stream.on('trailers', (t: IncomingHttpHeaders) => (answer.trailers = t));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ ...answer, body: Buffer.concat(chunks).toString() }));
    stream.on('error', reject);
  });
}

/** The upstream's answers, the same over h2c and over TLS. */
function answer(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, slowClosed: number[]): void {
  stream.on('error', () => undefined);
  const path = headers[':path'];
  if (path === '/trailers') {
    stream.respond({ ':status': 200, 'content-type': 'text/plain' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'c0ffee', 'x-rows': '2' }));
    stream.end('two rows');
  } else if (path === '/trailers-only') {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'no such order' }, { endStream: true });
  } else if (path?.startsWith('/echo') === true) {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      stream.respond({ ':status': 201, 'x-cookie-seen': String(headers.cookie), 'x-ended-with-head': String(stream.endAfterHeaders) });
      stream.end(`got ${Buffer.concat(chunks).toString()}`);
    });
  } else if (path === '/proxy-auth') {
    stream.respond({ ':status': 407, 'proxy-authenticate': 'Basic realm="upstream"', 'x-kept': 'yes' });
    stream.end('no');
  } else if (path === '/slow') {
    stream.respond({ ':status': 200, 'content-type': 'text/plain' });
    stream.write('first part;');
    // the rest never comes: only the client's reset ends this stream
    stream.on('close', () => slowClosed.push(stream.rstCode ?? -1));
  } else {
    stream.respond({ ':status': 404 });
    stream.end();
  }
}

describe('record proxy relaying HTTP/2 streams', () => {
  let rig: H2cProxyRig;
  let setup: RecorderSetup;
  let proxy: HttpCaptureProxy;
  let client: ClientHttp2Session;
  /** RST_STREAM codes of the upstream's /slow streams once they closed */
  const slowClosed: number[] = [];

  beforeAll(async () => {
    rig = await startH2cProxyRig('doppel-h2-stream-', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => answer(stream, headers, slowClosed));
    ({ setup, proxy, client } = rig);
  });

  afterAll(async () => {
    await rig?.close();
  });

  async function recorded(url: string): Promise<HttpExchange> {
    await setup.recorder.flush();
    const ex = (await readExchanges(rig.dir)).find((e) => e.http.request.url === url);
    if (ex === undefined) throw new Error(`no exchange recorded for ${url}`);
    return ex;
  }

  it('trailers reach the client after the body and are recorded', async () => {
    const r = await h2request(client, { ':path': '/trailers', ':method': 'GET', te: 'trailers' });
    expect(r.head[':status']).toBe(200);
    expect(r.body).toBe('two rows');
    expect(r.trailers?.['x-checksum']).toBe('c0ffee');
    expect(r.trailers?.['x-rows']).toBe('2');
    const ex = await recorded('/trailers');
    expect(ex.http.version).toBe('2');
    expect(ex.http.response?.trailers).toEqual([
      ['x-checksum', 'c0ffee'],
      ['x-rows', '2'],
    ]);
  });

  it('a Trailers-Only answer reaches the client as one HEADERS frame that ends the stream', async () => {
    const r = await h2request(client, { ':path': '/trailers-only', ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers' }, '');
    expect(r.isEndInHead).toBe(true);
    expect(r.head['grpc-status']).toBe('5');
    expect(r.head['grpc-message']).toBe('no such order');
    expect(r.body).toBe('');
    expect(r.trailers).toBeUndefined();
    const ex = await recorded('/trailers-only');
    expect(ex.http.response?.status).toBe(200);
    expect(ex.http.response?.headers).toContainEqual(['grpc-status', '5']);
  });

  it('a request body and split cookies go upstream and into the record as one field, with the authority', async () => {
    const r = await h2request(client, { ':path': '/echo', ':method': 'POST', cookie: ['a=1', 'b=2'] }, 'hello');
    expect(r.head[':status']).toBe(201);
    expect(r.head['x-cookie-seen']).toBe('a=1; b=2');
    expect(r.body).toBe('got hello');
    const ex = await recorded('/echo');
    expect(ex.http.request.method).toBe('POST');
    expect(ex.http.request.body).toBe('hello');
    expect(ex.http.request.authority).toBe(new URL(proxy.url).host);
    // one field (its value is redacted in the record)
    expect(ex.http.request.headers.filter(([n]) => n === 'cookie')).toHaveLength(1);
    expect(ex.http.request.headers.some(([n]) => n.startsWith(':'))).toBe(false);
  });

  it('a GET with a body and a POST without one reach the upstream as sent: END_STREAM on the head only when the client put it there', async () => {
    const get = await h2request(client, { ':path': '/echo?get-with-body', ':method': 'GET' }, 'ping');
    expect(get.head[':status']).toBe(201);
    expect(get.head['x-ended-with-head']).toBe('false');
    expect(get.body).toBe('got ping');
    const post = await h2request(client, { ':path': '/echo?post-without-body', ':method': 'POST' });
    expect(post.head[':status']).toBe(201);
    expect(post.head['x-ended-with-head']).toBe('true');
    expect(post.body).toBe('got ');
    expect((await recorded('/echo?get-with-body')).http.request.body).toBe('ping');
    expect((await recorded('/echo?post-without-body')).http.request.method).toBe('POST');
  });

  it('a hop-by-hop field in the upstream head (Proxy-Authenticate) reaches neither the client nor the record', async () => {
    const r = await h2request(client, { ':path': '/proxy-auth', ':method': 'GET' });
    expect(r.head[':status']).toBe(407);
    expect(r.head['x-kept']).toBe('yes');
    expect(r.head['proxy-authenticate']).toBeUndefined();
    expect(r.body).toBe('no');
    const headers = (await recorded('/proxy-auth')).http.response?.headers ?? [];
    expect(headers.some(([n]) => n === 'x-kept')).toBe(true);
    expect(headers.some(([n]) => n === 'proxy-authenticate')).toBe(false);
  });

  it('CONNECT is answered 405 by the proxy and never forwarded', async () => {
    const r = await h2request(client, { ':method': 'CONNECT', ':authority': 'example.com:443' });
    expect(r.head[':status']).toBe(405);
    expect(r.head['x-doppel-error']).toBe('method_not_allowed');
    expect(JSON.parse(r.body)).toMatchObject({ error: 'method_not_allowed' });
  });

  it('a client reset mid-response cancels the upstream stream and is recorded as CLIENT_CLOSED, not counted as an upstream failure', async () => {
    const stream = client.request({ ':path': '/slow', ':method': 'GET' });
    stream.on('error', () => undefined);
    await new Promise<void>((resolve) => stream.once('data', () => resolve()));
    stream.close(constants.NGHTTP2_CANCEL);
    await until('the upstream stream closed', () => slowClosed.length === 1);
    expect(slowClosed[0]).toBe(constants.NGHTTP2_CANCEL);
    const ex = await recorded('/slow');
    expect(ex.http.error?.code).toBe('CLIENT_CLOSED');
    expect(ex.http.response?.status).toBe(200);
    expect(ex.http.response?.body).toBe('first part;');
    const failures = (await setup.metrics.upstreamFailures.get()).values.reduce((n, v) => n + v.value, 0);
    expect(failures).toBe(0);
  });
});

describe('record proxy relaying HTTP/2 streams to an https:// upstream', () => {
  const { log } = silentLogger();
  let dir: { dir: string; cleanup: () => Promise<void> };
  let setup: RecorderSetup;
  let upstream: Http2SecureServer;
  let http1Upstream: HttpsServer;
  let proxy: HttpCaptureProxy;
  let http1Proxy: HttpCaptureProxy;
  let untrustingProxy: HttpCaptureProxy;
  let client: ClientHttp2Session;
  let http1Client: ClientHttp2Session;
  let untrustingClient: ClientHttp2Session;
  /** ALPN protocol of each TLS session the h2 upstream accepted */
  const alpn: Array<string | false | undefined> = [];

  beforeAll(async () => {
    dir = await tempDir('doppel-h2-stream-tls-');
    setup = await createTestRecorder(dir.dir);
    const ca = await makeCa('doppel test ca');
    const caFiles = await writePem(dir.dir, 'ca', ca);
    const leaf = await makeLeaf('upstream', ca);
    upstream = createSecureServer(leaf);
    upstream.on('session', (session) => alpn.push(session.alpnProtocol));
    upstream.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => answer(stream, headers, []));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    // offers http/1.1 only by ALPN
    http1Upstream = createHttpsServer(leaf, (req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
      res.addTrailers({ 'x-checksum': 'c0ffee' });
      res.end(`http/1.1 ${req.url ?? ''}`);
    });
    await new Promise<void>((r) => http1Upstream.listen(0, '127.0.0.1', r));
    const common = {
      listen: '127.0.0.1:0',
      service: 'app',
      direction: 'inbound' as const,
      sink: setup.recorder,
      maxBodyBytes: 1024 * 1024,
      timeouts: TIMEOUTS,
      rewriteHost: false,
      log,
      metrics: setup.metrics,
    };
    const targetTls = loadTargetTls({ ca: caFiles.cert }, 'record.upstream_tls');
    proxy = await startHttpCaptureProxy({ ...common, target: `https://127.0.0.1:${(upstream.address() as AddressInfo).port}`, targetTls });
    http1Proxy = await startHttpCaptureProxy({ ...common, target: `https://127.0.0.1:${(http1Upstream.address() as AddressInfo).port}`, targetTls });
    untrustingProxy = await startHttpCaptureProxy({ ...common, target: `https://127.0.0.1:${(upstream.address() as AddressInfo).port}` });
    client = h2connect(proxy.url);
    http1Client = h2connect(http1Proxy.url);
    untrustingClient = h2connect(untrustingProxy.url);
  });

  afterAll(async () => {
    client?.close();
    http1Client?.close();
    untrustingClient?.close();
    await proxy?.close(100);
    await http1Proxy?.close(100);
    await untrustingProxy?.close(100);
    http1Upstream?.close();
    await setup?.recorder.close();
    upstream?.close();
    await dir?.cleanup();
  });

  it('trailers reach the client and the record, over an h2 session the proxy negotiated by ALPN', async () => {
    const r = await h2request(client, { ':path': '/trailers', ':method': 'GET', te: 'trailers' });
    expect(alpn).toContain('h2');
    expect(r.body).toBe('two rows');
    expect(r.trailers?.['x-checksum']).toBe('c0ffee');
    await setup.recorder.flush();
    const ex = (await readExchanges(dir.dir)).find((e) => e.http.request.url === '/trailers');
    expect(ex?.http.response?.trailers).toEqual([
      ['x-checksum', 'c0ffee'],
      ['x-rows', '2'],
    ]);
  });

  it('a Trailers-Only answer still reaches the client as one HEADERS frame that ends the stream', async () => {
    const r = await h2request(client, { ':path': '/trailers-only', ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers' }, '');
    expect(r.isEndInHead).toBe(true);
    expect(r.head['grpc-status']).toBe('5');
    expect(r.trailers).toBeUndefined();
  });

  it('an upstream whose ALPN answer is http/1.1 is reached over HTTP/1.1, trailers included', async () => {
    const r = await h2request(http1Client, { ':path': '/old', ':method': 'GET', te: 'trailers' });
    expect(r.head[':status']).toBe(200);
    expect(r.body).toBe('http/1.1 /old');
    expect(r.trailers?.['x-checksum']).toBe('c0ffee');
  });

  it('an upstream certificate the proxy cannot verify is a 502 naming the problem', async () => {
    const r = await h2request(untrustingClient, { ':path': '/trailers', ':method': 'GET' });
    expect(r.head[':status']).toBe(502);
    expect(r.body).toContain('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });
});
