import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import type { HttpExchange } from '../../src/core/exchange.js';
import { runCli, startCli } from '../helpers/cli.js';
import { readAll, scratchDir } from './formats-helpers.js';

const mappings = {
  mappings: [
    { request: { method: 'GET', url: '/accounts/7' }, response: { status: 200, jsonBody: { id: 7, owner: 'ann' } } },
    {
      request: { method: 'POST', urlPath: '/charges', queryParameters: { currency: { equalTo: 'EUR' } }, bodyPatterns: [{ equalToJson: { amount: 12 } }] },
      response: { status: 201, headers: { 'X-Charge': ['c-1', 'c-2'] }, base64Body: Buffer.from([0, 1, 2, 255]).toString('base64') },
    },
    { request: { method: 'GET', urlPattern: '/any/.*' }, response: { status: 200 } },
    { request: { method: 'GET', url: '/reset' }, response: { fault: 'CONNECTION_RESET_BY_PEER' } },
    { request: { method: 'GET', url: '/x' }, response: { status: 200, transformers: ['t'] } },
  ],
};

describe('doppel import wiremock', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('turns concrete mappings into outbound exchanges of the service that doppel mock then serves', async () => {
    const s = await scratchDir();
    cleanups.push(s.cleanup);
    const file = join(s.dir, 'payments.json');
    await writeFile(file, JSON.stringify(mappings, null, 2));
    const out = join(s.dir, 'traffic');
    const r = await runCli(['import', 'wiremock', file, '--out', out, '--service', 'payments']);
    expect(r.stderr).toContain(`${file}#2: a URL pattern does not name one request`);
    expect(r.stderr).toContain(`${file}#3: response.fault CONNECTION_RESET_BY_PEER has no recorded response`);
    expect(r.stderr).toContain(`${file}#4`);
    expect(r.stderr).toContain('transformers: not supported');
    expect(r.stderr).toContain('imported 2 exchanges, skipped 3');
    expect(r.code).toBe(0);
    const got = (await readAll(out)) as HttpExchange[];
    expect(got.map((e) => [e.direction, e.service, e.tags.source, e.http.request.method, e.http.request.url])).toEqual([
      ['outbound', 'payments', 'wiremock', 'GET', '/accounts/7'],
      ['outbound', 'payments', 'wiremock', 'POST', '/charges?currency=EUR'],
    ]);

    const mock = startCli(['mock', '--traffic', out, '--http-dep', 'payments=127.0.0.1:0', '--admin', '127.0.0.1:0', '--latency', 'none']);
    cleanups.push(() => mock.stop());
    const line = await mock.waitFor('http mock listening');
    const base = `http://${line.address as string}`;
    const a = await request(`${base}/accounts/7`);
    expect(a.statusCode).toBe(200);
    expect(await a.body.json()).toEqual({ id: 7, owner: 'ann' });
    const c = await request(`${base}/charges?currency=EUR`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"amount":12}' });
    expect(c.statusCode).toBe(201);
    expect(c.headers['x-charge']).toEqual(['c-1', 'c-2']);
    expect(Buffer.from(await c.body.arrayBuffer())).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(await mock.stop()).toBe(0);
  });

  it('reads a WireMock root directory (mappings/*.json)', async () => {
    const s = await scratchDir();
    cleanups.push(s.cleanup);
    await mkdir(join(s.dir, 'wm', 'mappings'), { recursive: true });
    await writeFile(join(s.dir, 'wm', 'mappings', 'a.json'), JSON.stringify({ request: { method: 'GET', urlPath: '/a' }, response: { status: 204 } }));
    await writeFile(join(s.dir, 'wm', 'mappings', 'b.json'), JSON.stringify([{ request: { method: 'DELETE', url: '/b' }, response: { status: 202, body: 'gone' } }]));
    const out = join(s.dir, 'traffic');
    const r = await runCli(['import', 'wiremock', join(s.dir, 'wm'), '--out', out, '--service', 'svc']);
    expect(r.code).toBe(0);
    const got = (await readAll(out)) as HttpExchange[];
    expect(got.map((e) => `${e.http.request.method} ${e.http.request.url} ${e.http.response?.status} ${e.http.response?.body}`)).toEqual(['GET /a 204 ', 'DELETE /b 202 gone']);
  });

  it('refuses malformed JSON with file and line, and a missing --service, exit 2', async () => {
    const s = await scratchDir();
    cleanups.push(s.cleanup);
    const file = join(s.dir, 'bad.json');
    await writeFile(file, '{\n "request": {\n  "method": "GET",\n  "url": /x\n }\n}\n');
    const r = await runCli(['import', 'wiremock', file, '--out', join(s.dir, 't'), '--service', 'svc']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}:4: not valid JSON`);
    const r2 = await runCli(['import', 'wiremock', file, '--out', join(s.dir, 't')]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain('import wiremock needs --service NAME');
  });
});
