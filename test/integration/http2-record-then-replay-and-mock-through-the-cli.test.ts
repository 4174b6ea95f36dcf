/**
 * HTTP/2 end to end through the CLI: `doppel record` in front of a service
 * that speaks h2c only (Node's http2 server) and of its h2c dependency;
 * curl talks h2c to both ports. `doppel replay` then sends the inbound
 * exchanges back over HTTP/2 (the service knows no HTTP/1.1) and every one
 * matches; `doppel mock` answers the dependency's exchanges to curl, over
 * h2c (with the recorded trailers) and over HTTP/1.1, with the recorded bodies.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { createServer as createH2Server, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runCli, startCli } from '../helpers/cli.js';
import { requireTool } from '../helpers/services.js';
import { readExchanges, tempDir } from '../helpers/http.js';

const run = promisify(execFile);

/** Answers from the path alone, so a replay gets the recorded bytes; a trailer carries a checksum. */
function answer(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('end', () => {
    const body = JSON.stringify({ path: headers[':path'], method: headers[':method'], got: Buffer.concat(chunks).toString() });
    stream.respond({ ':status': 200, 'content-type': 'application/json' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': String(body.length) }));
    stream.end(body);
  });
}

describe('HTTP/2 recorded, replayed and mocked through the CLI', () => {
  let service: Http2Server;
  let serviceUrl: string;
  let dir: { dir: string; cleanup: () => Promise<void> };
  let curl: string;

  beforeAll(async () => {
    dir = await tempDir('doppel-h2-cli-');
    service = createH2Server();
    service.on('stream', answer);
    await new Promise<void>((r) => service.listen(0, '127.0.0.1', r));
    serviceUrl = `http://127.0.0.1:${(service.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((r) => service?.close(r));
    await dir?.cleanup();
  });

  it('records h2c traffic, replays it over HTTP/2 with every answer matching, and mocks it with the same answers', async (ctx) => {
    curl = requireTool(ctx, 'curl');
    const traffic = join(dir.dir, 'traffic');
    const rec = startCli(['record', '--out', traffic, '--listen', '127.0.0.1:0', '--upstream', serviceUrl, '--service', 'orders', '--http-dep', `stock=127.0.0.1:0,${serviceUrl}`], {
      DOPPEL_REDACT_KEY: 'test-key',
    });
    const inbound = `http://${(await rec.waitFor('record proxy listening')).address as string}`;
    const dep = `http://${(await rec.waitFor('dependency proxy listening')).address as string}`;
    const recorded: Record<string, string> = {};
    for (const [base, path, data] of [
      [inbound, '/orders/1', undefined],
      [inbound, '/orders', '{"item":"book"}'],
      [dep, '/stock/42', undefined],
      [dep, '/stock/reserve', '{"sku":42}'],
    ] as const) {
      const args = ['-sS', '--http2-prior-knowledge', '-H', 'te: trailers', '-H', 'content-type: application/json', ...(data === undefined ? [] : ['--data-binary', data]), `${base}${path}`];
      recorded[path] = (await run(curl, args)).stdout;
      expect(JSON.parse(recorded[path])).toMatchObject({ path, got: data ?? '' });
    }
    expect(await rec.stop()).toBe(0);

    const exchanges = await readExchanges(traffic);
    expect(exchanges).toHaveLength(4);
    for (const ex of exchanges) {
      expect(ex.http.version).toBe('2');
      expect(ex.http.request.authority).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(ex.http.response?.trailers?.[0]?.[0]).toBe('x-checksum');
    }

    // The service speaks h2c only: a replay over HTTP/1.1 would fail every request.
    const report = join(dir.dir, 'report');
    const replay = await runCli(['replay', '--traffic', traffic, '--target', serviceUrl, '--report', report], { timeoutMs: 60_000 });
    expect(replay.code, replay.stderr).toBe(0);
    const summary = JSON.parse(await readFile(join(report, 'summary.json'), 'utf8')) as { verdict: string; counts: Record<string, number> };
    expect(summary.verdict).toBe('pass');
    expect(summary.counts).toMatchObject({ requests: 2, answered: 2, errors: 0, statusPass: 2, bodyMatch: 2 });

    const mock = startCli(['mock', '--traffic', traffic, '--http-dep', 'stock=127.0.0.1:0']);
    try {
      const mockUrl = `http://${(await mock.waitFor('http mock listening')).address as string}`;
      for (const [path, data] of [['/stock/42', undefined], ['/stock/reserve', '{"sku":42}']] as const) {
        const body = ['-H', 'content-type: application/json', ...(data === undefined ? [] : ['--data-binary', data])];
        const h2 = await run(curl, ['-sS', '-i', '--http2-prior-knowledge', '-H', 'te: trailers', ...body, `${mockUrl}${path}`]);
        expect(h2.stdout).toMatch(/^HTTP\/2 200/);
        // curl -i prints the trailers after the body
        expect(h2.stdout).toContain(`\r\n\r\n${recorded[path] as string}x-checksum: ${(recorded[path] as string).length}`);
        const h1 = await run(curl, ['-sS', '--http1.1', ...body, `${mockUrl}${path}`]);
        expect(h1.stdout).toBe(recorded[path]);
      }
      // nghttp sees the trailer arrive as its own HEADERS frame
      const nghttp = requireTool(ctx, 'nghttp', 'nghttp2-client');
      const ng = await run(nghttp, ['-v', '-H', 'te: trailers', `${mockUrl}/stock/42`]);
      expect(ng.stdout).toMatch(/recv \(stream_id=\d+\) x-checksum: \d+/);
    } finally {
      await mock.stop();
    }
  });
});
