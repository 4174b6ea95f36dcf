/**
 * An upstream that speaks only HTTP/2 in clear text (Node's http2.createServer,
 * prior knowledge) behind HTTP/1.1 clients: with `--upstream-h2` the record
 * proxy sends their requests on over h2c (GET, a body with Content-Length, a
 * chunked one, trailers back) and records them in the client's version,
 * "1.1"; without it the upstream cannot be reached. `replay --target-h2`
 * replays those HTTP/1.1 recordings to the same h2c-only server, and
 * `shadow --primary-h2 --candidate-h2` serves and tees HTTP/1.1 clients with
 * h2c-only builds on both sides. Over TLS the switch offers ALPN h2 to an
 * upstream that accepts nothing else.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createSecureServer, createServer as createH2Server, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpExchange } from '../../src/core/exchange.js';
import { runCli, startCli, type Running } from '../helpers/cli.js';
import { readExchanges, tempDir } from '../helpers/http.js';
import { requireTool } from '../helpers/services.js';
import { until } from '../helpers/until.js';
import { makeCa, makeLeaf, writePem } from '../helpers/tls-fixtures.js';

const run = promisify(execFile);

/** Echoes what arrived over HTTP/2; the body's length comes back as a trailer. */
function echo(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('end', () => {
    const body = Buffer.concat(chunks).toString();
    // The authority goes in a header: replay rewrites it to the target, and only content-type is judged.
    stream.respond({ ':status': 200, 'content-type': 'application/json', 'x-upstream': 'h2c-only', 'x-authority': String(headers[':authority']) }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'x-body-length': String(body.length) }));
    stream.end(JSON.stringify({ method: headers[':method'], path: headers[':path'], body, alpn: stream.session?.alpnProtocol }));
  });
}

describe('forced HTTP/2 towards an h2c-only upstream', () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  let work: string;
  let traffic: string;
  let upstream: Http2Server;
  let upstreamUrl: string;
  let streams = 0;

  beforeAll(async () => {
    const t = await tempDir('doppel-upstream-h2-');
    cleanups.push(t.cleanup);
    work = t.dir;
    traffic = join(work, 'traffic');
    upstream = createH2Server();
    upstream.on('stream', (s, h) => {
      streams++;
      echo(s, h);
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    cleanups.push(() => new Promise<void>((r) => upstream.close(() => r())));
  });
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  const record = async (out: string, extra: string[]): Promise<{ rec: Running; url: string }> => {
    const rec = startCli(['record', '--out', out, '--listen', '127.0.0.1:0', '--upstream', upstreamUrl, ...extra], { DOPPEL_REDACT_KEY: 'k' });
    cleanups.push(() => rec.stop());
    const line = await rec.waitFor('record proxy listening');
    return { rec, url: `http://${line.address as string}` };
  };

  it('without --upstream-h2 an HTTP/1.1 request cannot reach it: 502', async (ctx) => {
    const curl = requireTool(ctx, 'curl');
    const { rec, url } = await record(join(work, 'plain'), []);
    const { stdout } = await run(curl, ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--http1.1', `${url}/orders`]);
    expect(stdout).toBe('502');
    expect(await rec.stop()).toBe(0);
  });

  it('with --upstream-h2 curl and undici over HTTP/1.1 get its answers, trailers included, recorded as version 1.1', async (ctx) => {
    const curl = requireTool(ctx, 'curl');
    const before = streams;
    const { rec, url } = await record(traffic, ['--upstream-h2']);

    const get = await run(curl, ['-sS', '-i', '--http1.1', '-H', 'x-client: one', `${url}/orders?id=1`]);
    expect(get.stdout).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(get.stdout).toMatch(/x-upstream: h2c-only/i);
    // -i prints the trailers right after the body (a flat JSON object, no nested braces).
    const getBody = JSON.parse(/\{"method".*?\}/.exec(get.stdout)?.[0] ?? 'null') as Record<string, unknown>;
    expect(get.stdout).toMatch(/\}x-body-length: 0\r?\n/);
    expect(getBody).toMatchObject({ method: 'GET', path: '/orders?id=1', body: '', alpn: 'h2c' });
    expect(get.stdout).toContain(`x-authority: ${new URL(url).host}`);

    const post = await run(curl, ['-sS', '--http1.1', '--data-binary', 'sized body', `${url}/orders`]);
    expect(JSON.parse(post.stdout)).toMatchObject({ method: 'POST', path: '/orders', body: 'sized body' });
    const chunked = await run(curl, ['-sS', '--http1.1', '-H', 'Transfer-Encoding: chunked', '--data-binary', 'chunked body', `${url}/chunked`]);
    expect(JSON.parse(chunked.stdout)).toMatchObject({ method: 'POST', path: '/chunked', body: 'chunked body' });

    // undici's HTTP/1.1 client asks for trailers and reads them after the body.
    const res = await request(`${url}/trailers`, { method: 'PUT', body: 'twelve bytes', headers: { te: 'trailers' } });
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(await res.body.text())).toMatchObject({ method: 'PUT', body: 'twelve bytes' });
    expect(res.trailers['x-body-length']).toBe('12');
    expect(streams - before).toBe(4);

    expect(await rec.stop()).toBe(0);
    const exchanges = await readExchanges(traffic);
    const by = (u: string) => exchanges.find((e) => e.http.request.url === u) as HttpExchange;
    expect(exchanges.map((e) => `${e.http.version} ${e.http.request.method} ${e.http.request.url} ${e.http.response?.status}`).sort()).toEqual([
      '1.1 GET /orders?id=1 200',
      '1.1 POST /chunked 200',
      '1.1 POST /orders 200',
      '1.1 PUT /trailers 200',
    ]);
    expect(by('/orders').http.request.body).toBe('sized body');
    expect(by('/chunked').http.request.body).toBe('chunked body');
    expect(by('/orders?id=1').http.request.headers).toContainEqual(['x-client', 'one']);
    expect(by('/trailers').http.response?.trailers).toContainEqual(['x-body-length', '12']);
  });

  it('replay --target-h2 sends the HTTP/1.1 recordings to the h2c-only server and every answer matches', async () => {
    const gates = join(work, 'gates.yaml');
    await writeFile(gates, 'quality_gates:\n  status_pass_rate: ">= 1"\n  body_match_rate: ">= 1"\n');
    const before = streams;
    const forced = await runCli(['replay', '--traffic', traffic, '--target', upstreamUrl, '--target-h2', '--gates', gates, '--report', join(work, 'report')], { timeoutMs: 60_000 });
    expect(forced.stderr).not.toContain('"level":50');
    expect(forced.code).toBe(0);
    expect(streams - before).toBe(4);
    // Without it, HTTP/1.1 to a server that speaks only HTTP/2: nothing answers, the run aborts.
    const plain = await runCli(['replay', '--traffic', traffic, '--target', upstreamUrl, '--gates', gates], { timeoutMs: 60_000 });
    expect(plain.code).toBe(3);
  });

  it('shadow --primary-h2 --candidate-h2: an HTTP/1.1 client is answered by an h2c-only primary and its copy judged on an h2c-only candidate', async (ctx) => {
    const curl = requireTool(ctx, 'curl');
    const report = join(work, 'shadow-report');
    const shadow = startCli(['shadow', '--listen', '127.0.0.1:0', '--primary', upstreamUrl, '--primary-h2', '--candidate', upstreamUrl, '--candidate-h2', '--report', report]);
    cleanups.push(() => shadow.stop());
    const line = await shadow.waitFor('shadow listening');
    const before = streams;
    const { stdout } = await run(curl, ['-sS', '--http1.1', `http://${line.address as string}/shadowed`]);
    expect(JSON.parse(stdout)).toMatchObject({ method: 'GET', path: '/shadowed', alpn: 'h2c' });
    // One stream for the primary's answer, one for the candidate's copy.
    await until('the copy to reach the candidate', () => streams - before === 2);
    // A stop drains the copies in flight and judges them before the report is written.
    expect(await shadow.stop()).toBe(0);
    const summary = JSON.parse(await readFile(join(report, 'summary.json'), 'utf8')) as { counts: { answered: number; bodyMatch: number; errors: number } };
    expect(summary.counts).toMatchObject({ answered: 1, bodyMatch: 1, errors: 0 });
  });

  it('an https:// upstream that accepts only ALPN h2 is reached with --upstream-h2, and refuses the HTTP/1.1 handshake without it', async (ctx) => {
    const curl = requireTool(ctx, 'curl');
    const caPem = await makeCa('doppel upstream-h2 test ca');
    const ca = await writePem(work, 'ca', caPem);
    const leaf = await makeLeaf('h2-only', caPem);
    const secure = createSecureServer({ cert: leaf.cert, key: leaf.key, allowHTTP1: false });
    secure.on('stream', echo);
    await new Promise<void>((r) => secure.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => secure.close(() => r())));
    const config = join(work, 'tls.yaml');
    await writeFile(config, `record:\n  upstream_tls: { ca: ${JSON.stringify(ca.cert)} }\n`);
    const target = `https://127.0.0.1:${(secure.address() as AddressInfo).port}`;
    for (const [flags, expected] of [
      [['--upstream-h2'], '200'],
      [[], '502'],
    ] as const) {
      const rec = startCli(['record', '--config', config, '--out', join(work, `tls-${expected}`), '--listen', '127.0.0.1:0', '--upstream', target, ...flags], { DOPPEL_REDACT_KEY: 'k' });
      cleanups.push(() => rec.stop());
      const line = await rec.waitFor('record proxy listening');
      const { stdout } = await run(curl, ['-sS', '--http1.1', '-w', '\n%{http_code}', '--data-binary', 'over tls', `http://${line.address as string}/secure`]);
      const [body, code] = stdout.split('\n');
      expect(code).toBe(expected);
      if (expected === '200') expect(JSON.parse(body as string)).toMatchObject({ method: 'POST', path: '/secure', body: 'over tls', alpn: 'h2' });
      expect(await rec.stop()).toBe(0);
    }
  });
});
