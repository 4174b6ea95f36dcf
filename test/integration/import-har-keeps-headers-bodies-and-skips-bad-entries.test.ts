import { writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeBody, type HttpExchange } from '../../src/core/exchange.js';
import { runCli } from '../helpers/cli.js';
import { readAll, scratchDir } from '../helpers/formats.js';

const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff, 0xfe]);

const har = {
  log: {
    version: '1.2',
    creator: { name: 'browser', version: '1' },
    entries: [
      {
        startedDateTime: '2026-11-26T13:00:00.123Z',
        time: 12.5,
        request: {
          method: 'POST',
          url: 'https://shop.example/orders?x=1&x=2',
          httpVersion: 'HTTP/1.1',
          headers: [
            { name: 'Host', value: 'shop.example' },
            { name: 'X-Dup', value: 'a' },
            { name: 'Content-Type', value: 'application/json' },
            { name: 'x-dup', value: 'b' },
          ],
          postData: { mimeType: 'application/json', text: '{"item":"ä"}' },
        },
        response: {
          status: 201,
          headers: [{ name: 'Content-Type', value: 'application/json' }, { name: 'Set-Cookie', value: 'a=1' }, { name: 'Set-Cookie', value: 'b=2' }],
          content: { size: 11, mimeType: 'application/json', text: '{"id":"o1"}' },
        },
      },
      { startedDateTime: '2026-11-26T13:00:01Z', time: 1, request: { method: 'GET', url: '/relative-only', headers: [] }, response: { status: 200, headers: [] } },
      {
        startedDateTime: '2026-11-26T13:00:02.000Z',
        time: 3,
        request: { method: 'GET', url: 'https://shop.example/logo.png', headers: [{ name: ':authority', value: 'shop.example' }] },
        response: { status: 200, headers: [{ name: 'Content-Type', value: 'image/png' }], content: { size: png.length, mimeType: 'image/png', text: png.toString('base64'), encoding: 'base64' } },
      },
      'not an entry',
      {
        startedDateTime: '2026-11-26T13:00:03.000Z',
        time: 1,
        request: { method: 'GET', url: 'https://shop.example/decoded', headers: [] },
        response: { status: 200, headers: [{ name: 'Content-Encoding', value: 'gzip' }, { name: 'Content-Length', value: '31' }, { name: 'Vary', value: 'Accept-Encoding' }], content: { size: 9, mimeType: 'text/plain', text: 'plain ok' } },
      },
      {
        startedDateTime: '2026-11-26T13:00:04.000Z',
        time: 1,
        request: { method: 'GET', url: 'https://shop.example/encoded', headers: [] },
        response: { status: 200, headers: [{ name: 'Content-Encoding', value: 'gzip' }], content: { size: 20, mimeType: 'text/plain', text: gzipSync('zipped').toString('base64'), encoding: 'base64' } },
      },
    ],
  },
};

describe('doppel import har', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
  });

  it('writes inbound exchanges with header pairs in order, text and base64 bodies, one session each; bad entries are skipped by index', async () => {
    const s = await scratchDir();
    cleanups.push(s.cleanup);
    const file = join(s.dir, 'site.har');
    await writeFile(file, JSON.stringify(har, null, 2));
    const out = join(s.dir, 'traffic');
    const r = await runCli(['import', 'har', file, '--out', out, '--service', 'shop']);
    expect(r.stderr).toContain('log.entries[1]: request.url: "/relative-only" is not an absolute URL');
    expect(r.stderr).toContain('log.entries[3]: expected an entry object');
    expect(r.stderr).toContain('imported 4 exchanges, skipped 2');
    expect(r.code).toBe(0);

    const got = (await readAll(out)) as HttpExchange[];
    expect(got).toHaveLength(4);
    const [post, logo, decoded, encoded] = got as [HttpExchange, HttpExchange, HttpExchange, HttpExchange];
    // a browser's decoded body loses the Content-Encoding it no longer has; a real gzip body keeps it
    expect(decoded.http.response?.headers).toEqual([['Vary', 'Accept-Encoding']]);
    expect(decoded.http.response?.body).toBe('plain ok');
    expect(encoded.http.response?.headers).toEqual([['Content-Encoding', 'gzip']]);
    expect(encoded.http.response?.bodyEncoding).toBe('base64');
    expect(post).toMatchObject({ v: 1, direction: 'inbound', service: 'shop', protocol: 'http', startedAt: '2026-11-26T13:00:00.123Z', durationMs: 12.5, tags: { source: 'har' } });
    expect(post.http.request).toMatchObject({ method: 'POST', url: '/orders?x=1&x=2', body: '{"item":"ä"}', bodyEncoding: 'utf8' });
    expect(post.http.request.headers).toEqual([['Host', 'shop.example'], ['X-Dup', 'a'], ['Content-Type', 'application/json'], ['x-dup', 'b']]);
    expect(post.http.response?.headers).toEqual([['Content-Type', 'application/json'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']]);
    expect(post.http.response).toMatchObject({ status: 201, body: '{"id":"o1"}', bodyEncoding: 'utf8' });
    expect(logo.http.request.headers).toEqual([['Host', 'shop.example']]);
    expect(logo.http.response?.bodyEncoding).toBe('base64');
    expect(decodeBody(logo.http.response?.body ?? '', 'base64').equals(png)).toBe(true);
    expect(post.session).not.toBe(logo.session);
  });

  it('names the file and line of a JSON syntax error, exit 2', async () => {
    const s = await scratchDir();
    cleanups.push(s.cleanup);
    const file = join(s.dir, 'broken.har');
    await writeFile(file, '{\n  "log": {\n    "entries": [\n      { "request": }\n    ]\n  }\n}\n');
    const r = await runCli(['import', 'har', file, '--out', join(s.dir, 'traffic')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}:4: not valid JSON`);
  });

  it('refuses a JSON file without log.entries, exit 2', async () => {
    const s = await scratchDir();
    cleanups.push(s.cleanup);
    const file = join(s.dir, 'other.json');
    await writeFile(file, '{"log":{"pages":[]}}');
    const r = await runCli(['import', 'har', file, '--out', join(s.dir, 'traffic')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}: not a HAR file (no log.entries list)`);
  });

  it('refuses a missing input file and a missing --out, exit 2', async () => {
    const s = await scratchDir();
    cleanups.push(s.cleanup);
    const missing = await runCli(['import', 'har', join(s.dir, 'nope.har'), '--out', join(s.dir, 'traffic')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('nope.har: cannot read it');
    const noOut = await runCli(['import', 'har', join(s.dir, 'nope.har')]);
    expect(noOut.code).toBe(2);
    expect(noOut.stderr).toContain('import har needs --out DIR');
  });
});
