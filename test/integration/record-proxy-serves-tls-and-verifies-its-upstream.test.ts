/**
 * The record proxy over TLS in front of a real https upstream: curl and
 * Node's https client reach it trusting only the test CA, the recorded
 * exchange carries the negotiated TLS version and ALPN protocol, a target
 * signed by another CA is a 502 naming the certificate problem, insecure
 * accepts a self-signed upstream, and plain HTTP on the TLS port is closed
 * without disturbing anyone else.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer as createHttpsServer, request as httpsRequest, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect as netConnect, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import type { HttpCaptureProxy } from '../../src/capture/http-capture-proxy.js';
import { loadServerTls, loadTargetTls, type ServerTls } from '../../src/core/tls.js';
import { createTestRecorder, rawExchange, readExchanges, silentLogger, startTestRecordProxy, tempDir, type RecorderSetup } from '../helpers/http.js';
import { makeCa, makeLeaf, writePem, type Pem, type PemFiles } from '../helpers/tls-fixtures.js';

const run = promisify(execFile);

function answer(req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ url: req.url, upstream: 'https' }));
}

async function startHttps(pem: Pem): Promise<{ server: Server; url: string }> {
  const server = createHttpsServer({ cert: pem.cert, key: pem.key }, answer);
  // An echo protocol behind Upgrade (RFC 9110 §7.8), to see the tunnel verify the upstream too.
  server.on('upgrade', (_req, socket: Duplex) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
    socket.pipe(socket);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `https://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function get(url: string, ca: string | Buffer, alpn?: string[]): Promise<{ status: number; body: string; headers: IncomingMessage['headers'] }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, agent: false, ...(alpn === undefined ? {} : { ALPNProtocols: alpn }) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('record proxy over TLS with an https upstream', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let ca: PemFiles;
  let otherCa: PemFiles;
  let caPem: string;
  let upstream: { server: Server; url: string };
  let selfSigned: { server: Server; url: string };
  let setup: RecorderSetup;
  let tls: ServerTls;
  const proxies: HttpCaptureProxy[] = [];
  const { log } = silentLogger();

  const proxyTo = async (target: string, targetTls: Parameters<typeof loadTargetTls>[0]) => {
    const p = await startTestRecordProxy(target, setup, log, { tls, targetTls: loadTargetTls(targetTls, 'record.upstream_tls') });
    proxies.push(p);
    return p;
  };

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('doppel-tls-record-'));
    const caKeys = await makeCa('doppel test ca');
    caPem = caKeys.cert;
    ca = await writePem(dir, 'ca', caKeys);
    otherCa = await writePem(dir, 'other-ca', await makeCa('some other ca'));
    const proxyFiles = await writePem(dir, 'proxy', await makeLeaf('doppel proxy', caKeys));
    upstream = await startHttps(await makeLeaf('upstream', caKeys));
    selfSigned = await startHttps(await makeLeaf('self-signed upstream'));
    setup = await createTestRecorder(`${dir}/traffic`);
    tls = (await loadServerTls({ cert: proxyFiles.cert, key: proxyFiles.key }, { label: 'record.tls', log })) as ServerTls;
  });

  afterAll(async () => {
    for (const p of proxies) await p.close(0);
    for (const s of [upstream.server, selfSigned.server]) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
    await setup.recorder.close();
    await cleanup();
  });

  it('curl and Node https reach the upstream through the proxy trusting only the CA; exchanges are tagged with TLS version and ALPN', async () => {
    const proxy = await proxyTo(upstream.url, { ca: ca.cert });
    expect(proxy.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const curl = await run('curl', ['-sS', '--cacert', ca.cert, '-w', '\\n%{http_version}', `${proxy.url}/orders/1?via=curl`]);
    const [body, httpVersion] = curl.stdout.split('\n');
    expect(JSON.parse(body as string)).toEqual({ url: '/orders/1?via=curl', upstream: 'https' });
    // curl offers h2 and http/1.1 and the listener prefers h2; the HTTP/1.1-only upstream still answers.
    expect(httpVersion).toBe('2');
    const node = await get(`${proxy.url}/orders/2?via=node`, await readFile(ca.cert), ['http/1.1']);
    const noAlpn = await get(`${proxy.url}/orders/3?via=node-no-alpn`, caPem);
    expect(noAlpn.status).toBe(200);
    expect(node.status).toBe(200);
    expect(JSON.parse(node.body)).toEqual({ url: '/orders/2?via=node', upstream: 'https' });

    await setup.recorder.flush();
    const recorded = await readExchanges(`${dir}/traffic`);
    const byUrl = new Map(recorded.map((e) => [e.http.request.url, e]));
    for (const [url, alpn, version] of [['/orders/1?via=curl', 'h2', '2'], ['/orders/2?via=node', 'http/1.1', '1.1']] as const) {
      const ex = byUrl.get(url);
      expect(ex?.http.response?.status).toBe(200);
      expect(ex?.http.version).toBe(version);
      expect(ex?.tags['tls.version']).toMatch(/^TLSv1\.[23]$/);
      expect(ex?.tags['tls.alpn']).toBe(alpn);
    }
    // Node's https client offers no ALPN unless asked: the version is known, no protocol was negotiated.
    const plainNode = byUrl.get('/orders/3?via=node-no-alpn');
    expect(plainNode?.tags['tls.version']).toMatch(/^TLSv1\.[23]$/);
    expect(plainNode?.tags).not.toHaveProperty('tls.alpn');
  });

  it('a client that does not trust the CA cannot connect', async () => {
    const proxy = proxies[0] as HttpCaptureProxy;
    await expect(get(`${proxy.url}/x`, otherCa.cert)).rejects.toThrow(/certificate|self.signed|verify/i);
    const curl = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', `${proxy.url}/x`]).catch((e: { code: number; stderr: string }) => e);
    expect((curl as { code: number }).code).toBe(60);
  });

  it('an upstream signed by another CA is a 502 naming the certificate problem, recorded as an upstream error', async () => {
    const proxy = await proxyTo(upstream.url, { ca: otherCa.cert });
    const r = await get(`${proxy.url}/wrong-ca`, caPem);
    expect(r.status).toBe(502);
    expect(r.headers['x-doppel-error']).toBe('upstream_unavailable');
    const msg = (JSON.parse(r.body) as { message: string }).message;
    expect(msg).toMatch(/upstream failed: .*certificate/i);
    await setup.recorder.flush();
    const ex = (await readExchanges(`${dir}/traffic`)).find((e) => e.http.request.url === '/wrong-ca');
    expect(ex?.http.error?.code).toMatch(/CERT|SIGNATURE|SELF_SIGNED/);
    expect(ex?.http.response).toBeNull();
  });

  it('an upstream with a self-signed certificate fails verification, and works with insecure: true', async () => {
    const strict = await proxyTo(selfSigned.url, { ca: ca.cert });
    const refused = await get(`${strict.url}/self`, caPem);
    expect(refused.status).toBe(502);
    expect(refused.body).toMatch(/self.signed|SELF_SIGNED/i);
    const lax = await proxyTo(selfSigned.url, { insecure: true });
    const ok = await get(`${lax.url}/self`, caPem);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toEqual({ url: '/self', upstream: 'https' });
  });

  it('an Upgrade request is tunnelled over TLS on both sides, the upstream verified with the same CA', async () => {
    const proxy = proxies[0] as HttpCaptureProxy;
    const text = await new Promise<string>((resolve, reject) => {
      const sock = tlsConnect({ host: '127.0.0.1', port: Number(new URL(proxy.url).port), ca: caPem }, () => {
        sock.write('GET /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
      });
      let got = '';
      sock.on('data', (c: Buffer) => {
        got += c.toString();
        if (got.includes('\r\n\r\n') && !got.includes('ping')) sock.write('ping');
        if (got.endsWith('ping')) {
          sock.end();
          resolve(got);
        }
      });
      sock.on('error', reject);
    });
    expect(text).toMatch(/^HTTP\/1\.1 101 /);
    expect(text.endsWith('\r\n\r\nping')).toBe(true);
  });

  it('plain HTTP sent to the TLS port is closed with no HTTP answer, and TLS clients carry on', async () => {
    const proxy = proxies[0] as HttpCaptureProxy;
    const port = Number(new URL(proxy.url).port);
    const plain = await rawExchange(port, 'GET /plain HTTP/1.1\r\nHost: x\r\n\r\n', { quietMs: 3000 });
    expect(plain.closed).toBe(true);
    expect(plain.text).not.toMatch(/^HTTP\/1\.1 /);
    const after = await get(`${proxy.url}/after-plain`, caPem);
    expect(after.status).toBe(200);
  });

  it('close() cuts a client stuck before its handshake at the grace deadline', async () => {
    const proxy = await proxyTo(upstream.url, { ca: ca.cert });
    proxies.pop();
    const silent = netConnect(Number(new URL(proxy.url).port), '127.0.0.1');
    await new Promise<void>((r) => silent.once('connect', () => r()));
    const closedByServer = new Promise<void>((r) => silent.once('close', () => r()));
    const t0 = Date.now();
    await proxy.close(300);
    expect(Date.now() - t0).toBeLessThan(5_000);
    await closedByServer;
  });
});
