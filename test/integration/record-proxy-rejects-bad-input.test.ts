import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpCaptureProxy, type HttpCaptureProxy } from '../../src/capture/http-capture-proxy.js';
import { createTestRecorder, rawExchange, readExchanges, startUpstream, tempDir, TIMEOUTS, type RecorderSetup, type Upstream } from '../helpers/http.js';
import { refusingPort } from '../helpers/ports.js';

describe('record proxy and bad input', () => {
  let upstream: Upstream;
  let proxy: HttpCaptureProxy;
  let setup: RecorderSetup;
  let cleanup: () => Promise<void>;
  const extra: Array<{ close: () => Promise<void> }> = [];

  beforeAll(async () => {
    const t = await tempDir();
    cleanup = t.cleanup;
    upstream = await startUpstream((req, res) => {
      if (req.url === '/slow') return; // never answers
      res.writeHead(200, ['Content-Length', '2']);
      res.end('ok');
    });
    setup = await createTestRecorder(t.dir);
    proxy = await startHttpCaptureProxy({
      listen: '127.0.0.1:0',
      target: upstream.url,
      service: 'app',
      direction: 'inbound',
      sink: setup.recorder,
      maxBodyBytes: 1024,
      timeouts: { ...TIMEOUTS, upstreamMs: 300 },
      rewriteHost: false,
      log: setup.log,
    });
  });

  afterAll(async () => {
    for (const e of extra) await e.close();
    await proxy.close(100);
    await setup.recorder.close();
    await upstream.close();
    await cleanup();
  });

  const port = () => Number(proxy.address.split(':')[1]);

  it('answers a malformed request line with 400, closes, and keeps serving others', async () => {
    const held = rawExchange(port(), 'GET /ok HTTP/1.1\r\nHost: x\r\n\r\n', { quietMs: 400 });
    const bad = await rawExchange(port(), 'GARBAGE\x01 / NOTHTTP\r\n\r\n');
    expect(bad.text).toMatch(/^HTTP\/1\.1 400/);
    expect(bad.closed).toBe(true);
    const good = await held;
    expect(good.text).toMatch(/^HTTP\/1\.1 200/);
    const after = await rawExchange(port(), 'GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(after.text).toMatch(/^HTTP\/1\.1 200/);
  });

  it('answers a malformed header with 400 and closes', async () => {
    const bad = await rawExchange(port(), 'GET / HTTP/1.1\r\nHost: x\r\nBad Header Name: v\r\n\r\n');
    expect(bad.text).toMatch(/^HTTP\/1\.1 400/);
    expect(bad.closed).toBe(true);
  });

  it('refuses Content-Length together with Transfer-Encoding (no smuggling)', async () => {
    const bad = await rawExchange(
      port(),
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    expect(bad.text).toMatch(/^HTTP\/1\.1 400/);
    expect(bad.text.match(/HTTP\/1\.1/g)?.length).toBe(1);
    expect(bad.closed).toBe(true);
  });

  it('answers 504 when the upstream does not answer in time, and records the failure', async () => {
    const r = await rawExchange(port(), 'GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { quietMs: 3000 });
    expect(r.text).toMatch(/^HTTP\/1\.1 504/);
    expect(r.text).toContain('upstream_timeout');
  });

  it('answers 502 with a clear body when the upstream is down, and records the failure', async () => {
    const deadPort = await refusingPort();
    const dead = await startHttpCaptureProxy({
      listen: '127.0.0.1:0',
      target: `http://127.0.0.1:${deadPort}`,
      service: 'payments',
      direction: 'outbound',
      sink: setup.recorder,
      maxBodyBytes: 1024,
      timeouts: TIMEOUTS,
      rewriteHost: true,
      log: setup.log,
    });
    extra.push(dead);
    const r = await rawExchange(Number(dead.address.split(':')[1]), 'POST /charge HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}');
    expect(r.text).toMatch(/^HTTP\/1\.1 502/);
    const body = JSON.parse(r.text.split('\r\n\r\n')[1] as string);
    expect(body.error).toBe('upstream_unavailable');
    expect(body.message).toMatch(/ECONNREFUSED/);
    await setup.recorder.flush();
    const all = await readExchanges(setup.dir);
    const failed = all.find((e) => e.service === 'payments');
    expect(failed?.direction).toBe('outbound');
    expect(failed?.http.response).toBeNull();
    expect(failed?.http.error?.code).toBe('ECONNREFUSED');
    expect(failed?.http.request.body).toBe('{}');
    const slow = all.find((e) => e.http.request.url === '/slow');
    expect(slow?.http.error?.code).toBe('UND_ERR_HEADERS_TIMEOUT');
  });
});
