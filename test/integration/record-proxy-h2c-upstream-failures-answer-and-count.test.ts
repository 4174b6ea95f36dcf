/**
 * The record proxy's h2c upstream (Node's own http2 session) fails as the
 * HTTP/1.1 one does: nothing listening is a 502 counted `refused`, a stream
 * the upstream resets is a 502 counted `reset`, a stream it never answers is
 * a 504 counted `timeout` at the upstream deadline; a healthy stream on the
 * same upstream still completes, and the failures are recorded with their error.
 */
import { connect as h2connect, createServer as createH2Server, constants, type ClientHttp2Session, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpCaptureProxy, type HttpCaptureProxy } from '../../src/capture/http-capture-proxy.js';
import { createTestRecorder, readExchanges, silentLogger, tempDir, TIMEOUTS, type RecorderSetup } from '../helpers/http.js';
import { refusingUrl } from '../helpers/ports.js';
import { until } from '../helpers/until.js';

async function h2get(session: ClientHttp2Session, path: string): Promise<{ status: number; body: string }> {
  const stream = session.request({ ':path': path, ':method': 'GET' });
  return new Promise((resolve, reject) => {
    let status = 0;
    const chunks: Buffer[] = [];
    stream.on('response', (h: IncomingHttpHeaders) => (status = Number(h[':status'])));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ status, body: Buffer.concat(chunks).toString() }));
    stream.on('error', reject);
  });
}

async function counter(setup: RecorderSetup, reason: string): Promise<number> {
  const m = (await setup.metrics.upstreamFailures.get()).values.find((v) => v.labels.reason === reason);
  return m?.value ?? 0;
}

describe('record proxy with an h2c upstream that fails', () => {
  const { log } = silentLogger();
  let dir: { dir: string; cleanup: () => Promise<void> };
  let setup: RecorderSetup;
  let upstream: Http2Server;
  let proxy: HttpCaptureProxy;
  let dead: HttpCaptureProxy;
  let client: ClientHttp2Session;
  let deadClient: ClientHttp2Session;

  beforeAll(async () => {
    dir = await tempDir('doppel-h2-fail-');
    setup = await createTestRecorder(dir.dir);
    upstream = createH2Server();
    upstream.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
      const path = headers[':path'];
      // closing with an error code emits it on the server's own stream too
      stream.on('error', () => undefined);
      if (path === '/reset') stream.close(constants.NGHTTP2_INTERNAL_ERROR);
      else if (path === '/hang') return;
      else {
        stream.respond({ ':status': 200, 'content-type': 'text/plain' });
        stream.end(`ok ${path}`);
      }
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const port = (upstream.address() as AddressInfo).port;
    const common = { listen: '127.0.0.1:0', service: 'app', direction: 'inbound' as const, sink: setup.recorder, maxBodyBytes: 1024 * 1024, rewriteHost: false, log, metrics: setup.metrics };
    proxy = await startHttpCaptureProxy({ ...common, target: `http://127.0.0.1:${port}`, timeouts: { ...TIMEOUTS, upstreamMs: 500 } });
    dead = await startHttpCaptureProxy({ ...common, target: await refusingUrl(), timeouts: TIMEOUTS });
    client = h2connect(proxy.url);
    deadClient = h2connect(dead.url);
  });

  afterAll(async () => {
    client?.close();
    deadClient?.close();
    await proxy?.close(100);
    await dead?.close(100);
    await setup?.recorder.close();
    upstream?.close();
    await dir?.cleanup();
  });

  it('nothing listening: 502, counted refused', async () => {
    const r = await h2get(deadClient, '/nobody');
    expect(r.status).toBe(502);
    expect(r.body).toContain('upstream_unavailable');
    await until('a refused failure counted', async () => (await counter(setup, 'refused')) >= 1);
  });

  it('a reset stream: 502, counted reset; a hung one: 504 at the upstream deadline, counted timeout; the healthy stream beside them completes', async () => {
    const [reset, hang, fine] = await Promise.all([h2get(client, '/reset'), h2get(client, '/hang'), h2get(client, '/fine')]);
    expect(fine).toEqual({ status: 200, body: 'ok /fine' });
    expect(reset.status).toBe(502);
    expect(hang.status).toBe(504);
    expect(hang.body).toContain('upstream_timeout');
    await until('reset and timeout counted', async () => (await counter(setup, 'reset')) >= 1 && (await counter(setup, 'timeout')) >= 1);
    await setup.recorder.flush();
    const byUrl = new Map((await readExchanges(dir.dir)).map((e) => [e.http.request.url, e]));
    expect(byUrl.get('/fine')?.http.response?.status).toBe(200);
    expect(byUrl.get('/hang')?.http.error?.code).toBe('UND_ERR_HEADERS_TIMEOUT');
    expect(byUrl.get('/reset')?.http.error?.code).toBe('ERR_HTTP2_STREAM_ERROR');
  });
});
