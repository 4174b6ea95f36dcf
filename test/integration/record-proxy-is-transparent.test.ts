import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { gzipSync, gunzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import type { HttpCaptureProxy } from '../../src/capture/http-capture-proxy.js';
import { createTestRecorder, rawExchange, readExchanges, startTestRecordProxy, startUpstream, tempDir, type RecorderSetup, type Upstream } from '../helpers/http.js';

interface Seen {
  rawHeaders: string[];
  body: Buffer;
  url: string;
  method: string;
}

describe('record proxy is transparent', () => {
  let upstream: Upstream;
  let proxy: HttpCaptureProxy;
  let setup: RecorderSetup;
  let cleanup: () => Promise<void>;
  const seen: Seen[] = [];
  const binary = randomBytes(4096);
  const gz = gzipSync(Buffer.from('{"hello":"gzip"}'.repeat(50)));

  beforeAll(async () => {
    const t = await tempDir();
    cleanup = t.cleanup;
    upstream = await startUpstream((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ rawHeaders: req.rawHeaders, body: Buffer.concat(chunks), url: req.url ?? '', method: req.method ?? '' });
        switch (req.url ?? '') {
          case '/headers':
            res.writeHead(200, ['X-Dup', 'a', 'x-dup', 'b', 'X-Case-Kept', 'yes', 'Content-Type', 'text/plain']);
            res.end('ok');
            return;
          case '/hop':
            res.writeHead(200, ['Connection', 'X-Private, keep-alive', 'X-Private', 'secret-hop', 'Keep-Alive', 'timeout=9', 'X-Public', 'yes', 'Content-Length', '2']);
            res.end('ok');
            return;
          case '/trailers':
            res.writeHead(200, ['Content-Type', 'text/plain', 'Trailer', 'X-Checksum']);
            res.write('part1-');
            res.addTrailers([['X-Checksum', 'abc123']]);
            res.end('part2');
            return;
          case '/chunked':
            res.writeHead(200, ['Content-Type', 'text/plain']);
            res.write('a'.repeat(1000));
            setTimeout(() => res.end('b'.repeat(1000)), 10);
            return;
          case '/gzip':
            res.writeHead(200, ['Content-Type', 'application/json', 'Content-Encoding', 'gzip', 'Content-Length', String(gz.length)]);
            res.end(gz);
            return;
          case '/binary':
            res.writeHead(200, ['Content-Type', 'application/octet-stream', 'Content-Length', String(binary.length)]);
            res.end(binary);
            return;
          case '/204':
            res.writeHead(204, ['X-Empty', '1']);
            res.end();
            return;
          case '/304':
            res.writeHead(304, ['ETag', '"v1"']);
            res.end();
            return;
          case '/echo':
            res.writeHead(200, ['Content-Type', 'application/octet-stream']);
            res.end(Buffer.concat(chunks));
            return;
          default:
            res.writeHead(200, ['Content-Type', 'text/plain', 'Content-Length', '5']);
            res.end(req.method === 'HEAD' ? undefined : 'hello');
        }
      });
    });
    upstream.server.on('upgrade', (req, socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      socket.on('data', (d: Buffer) => socket.write(Buffer.concat([Buffer.from('echo:'), d])));
      // http.Server sockets are half-open capable: close ours when the tunnel closes
      socket.on('end', () => socket.end());
    });
    setup = await createTestRecorder(t.dir);
    proxy = await startTestRecordProxy(upstream.url, setup, setup.log);
  });

  afterAll(async () => {
    await proxy.close(100);
    await setup.recorder.close();
    await upstream.close();
    await cleanup();
  });

  const port = () => Number(proxy.address.split(':')[1]);
  const lastSeen = () => seen[seen.length - 1] as Seen;

  it('keeps request header order, case and duplicates toward the upstream', async () => {
    const r = await rawExchange(port(), 'GET /plain HTTP/1.1\r\nHost: example.test\r\nX-B: 2\r\nx-a: 1\r\nX-Dup: one\r\nX-Dup: two\r\nConnection: close\r\n\r\n');
    expect(r.text).toMatch(/^HTTP\/1\.1 200/);
    // the proxy's own hop-by-hop Connection to the upstream aside; undici writes Host in lower case
    const h = lastSeen().rawHeaders.filter((_, i, a) => (a[i - (i % 2)] as string).toLowerCase() !== 'connection');
    expect(h.slice(0, 10)).toEqual(['host', 'example.test', 'X-B', '2', 'x-a', '1', 'X-Dup', 'one', 'X-Dup', 'two']);
  });

  it('keeps response header order, case and duplicates toward the client', async () => {
    const r = await rawExchange(port(), 'GET /headers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const head = r.text.split('\r\n\r\n')[0] as string;
    expect(head).toContain('X-Dup: a\r\nx-dup: b\r\nX-Case-Kept: yes\r\nContent-Type: text/plain');
  });

  it('answers a request carrying a Keep-Alive header and does not forward it', async () => {
    const r = await rawExchange(port(), 'GET /plain HTTP/1.1\r\nHost: x\r\nKeep-Alive: timeout=5\r\nConnection: keep-alive, close\r\n\r\n');
    expect(r.text).toMatch(/^HTTP\/1\.1 200/);
    const names = lastSeen().rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    expect(names).not.toContain('keep-alive');
  });

  it('does not forward Proxy-Connection, TE, Trailer or headers named in Connection to the origin', async () => {
    await rawExchange(
      port(),
      'GET /plain HTTP/1.1\r\nHost: x\r\nProxy-Connection: keep-alive\r\nTE: gzip\r\nTrailer: X-T\r\nConnection: X-Hop, close\r\nX-Hop: 1\r\nX-Keep: 1\r\n\r\n',
    );
    const names = lastSeen().rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    expect(names).not.toContain('proxy-connection');
    expect(names).not.toContain('te');
    expect(names).not.toContain('trailer');
    expect(names).not.toContain('x-hop');
    expect(names).toContain('x-keep');
  });

  it('strips hop-by-hop response headers (named in Connection, Keep-Alive) before the client', async () => {
    const r = await rawExchange(port(), 'GET /hop HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const head = r.text.split('\r\n\r\n')[0] as string;
    expect(head).not.toMatch(/x-private/i);
    expect(head).not.toMatch(/timeout=9/);
    expect(head).toContain('X-Public: yes');
  });

  it('rejects two Host headers with 400', async () => {
    const r = await rawExchange(port(), 'GET /plain HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n');
    expect(r.text).toMatch(/^HTTP\/1\.1 400/);
    expect(r.closed).toBe(true);
  });

  it('supports Expect: 100-continue uploads', async () => {
    const body = Buffer.alloc(2 * 1024 * 1024, 7);
    const status = await new Promise<{ status: number; gotContinue: boolean; length: number }>((resolve, reject) => {
      let gotContinue = false;
      const req = httpRequest(
        { host: '127.0.0.1', port: port(), method: 'PUT', path: '/echo', headers: { Expect: '100-continue', 'Content-Length': body.length } },
        (res: IncomingMessage) => {
          let length = 0;
          res.on('data', (c: Buffer) => (length += c.length));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, gotContinue, length }));
        },
      );
      req.on('continue', () => {
        gotContinue = true;
        req.end(body);
      });
      req.on('error', reject);
    });
    expect(status).toEqual({ status: 200, gotContinue: true, length: body.length });
  });

  it('forwards response trailers', async () => {
    const r = await rawExchange(port(), 'GET /trailers HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\n\r\n');
    expect(r.text).toContain('Transfer-Encoding: chunked');
    expect(r.text).toMatch(/0\r\nX-Checksum: abc123\r\n\r\n$/);
  });

  it('streams chunked responses, gzip bytes untouched, binary bytes exact', async () => {
    const get = (path: string) =>
      new Promise<{ headers: IncomingMessage['headers']; body: Buffer }>((resolve, reject) => {
        httpRequest({ host: '127.0.0.1', port: port(), path }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
        })
          .on('error', reject)
          .end();
      });
    const c = await get('/chunked');
    expect(c.headers['transfer-encoding']).toBe('chunked');
    expect(c.body.toString()).toBe('a'.repeat(1000) + 'b'.repeat(1000));
    const g = await get('/gzip');
    expect(g.headers['content-encoding']).toBe('gzip');
    expect(g.body.equals(gz)).toBe(true);
    expect(JSON.parse(gunzipSync(g.body).toString().slice(0, 16))).toEqual({ hello: 'gzip' });
    const b = await get('/binary');
    expect(b.body.equals(binary)).toBe(true);
  });

  it('handles HEAD, 204 and 304 without a body', async () => {
    const head = await rawExchange(port(), 'HEAD /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(head.text).toMatch(/^HTTP\/1\.1 200/);
    expect(head.text).toContain('Content-Length: 5');
    expect(head.text.endsWith('\r\n\r\n')).toBe(true);
    const nc = await rawExchange(port(), 'GET /204 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(nc.text).toMatch(/^HTTP\/1\.1 204/);
    expect(nc.text.endsWith('\r\n\r\n')).toBe(true);
    const nm = await rawExchange(port(), 'GET /304 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(nm.text).toMatch(/^HTTP\/1\.1 304/);
    expect(nm.text).toContain('ETag: "v1"');
  });

  it('keeps client connections alive across requests', async () => {
    const r = await rawExchange(port(), 'GET /plain HTTP/1.1\r\nHost: x\r\n\r\nGET /plain HTTP/1.1\r\nHost: x\r\n\r\n', { quietMs: 300 });
    expect(r.text.match(/HTTP\/1\.1 200/g)?.length).toBe(2);
    expect(r.closed).toBe(false);
  });

  it('passes WebSocket upgrades through', async () => {
    const text = await new Promise<string>((resolve, reject) => {
      const sock = connect(port(), '127.0.0.1');
      let buf = '';
      sock.on('connect', () =>
        sock.write('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'),
      );
      sock.on('data', (d: Buffer) => {
        buf += d.toString();
        if (buf.includes('\r\n\r\n') && !buf.includes('echo:')) sock.write('ping');
        if (buf.includes('echo:ping')) {
          sock.destroy();
          resolve(buf);
        }
      });
      sock.on('error', reject);
    });
    expect(text).toMatch(/^HTTP\/1\.1 101/);
    expect(text).toContain('echo:ping');
  });

  it('sets sane timeouts on the client side', () => {
    expect(proxy.server.requestTimeout).toBeGreaterThan(0);
    expect(proxy.server.headersTimeout).toBeGreaterThan(0);
    expect(proxy.server.keepAliveTimeout).toBeGreaterThan(0);
  });

  it('records what it proxied: raw headers, binary as base64, gzip bytes as sent, trailers', async () => {
    await setup.recorder.flush();
    const all = await readExchanges(setup.dir);
    const byUrl = (u: string) => all.find((e) => e.http.request.url === u);
    const bin = byUrl('/binary');
    expect(bin?.http.response?.bodyEncoding).toBe('base64');
    expect(Buffer.from(bin?.http.response?.body ?? '', 'base64').equals(binary)).toBe(true);
    const g = byUrl('/gzip');
    expect(Buffer.from(g?.http.response?.body ?? '', 'base64').equals(gz)).toBe(true);
    const t = byUrl('/trailers');
    expect(t?.http.response?.trailers).toEqual([['X-Checksum', 'abc123']]);
    expect(t?.http.response?.body).toBe('part1-part2');
    const h = byUrl('/headers');
    expect(h?.http.response?.headers.slice(0, 3)).toEqual([
      ['X-Dup', 'a'],
      ['x-dup', 'b'],
      ['X-Case-Kept', 'yes'],
    ]);
    expect(all.every((e) => e.direction === 'inbound' && e.service === 'app' && e.v === 1)).toBe(true);
  });
});
