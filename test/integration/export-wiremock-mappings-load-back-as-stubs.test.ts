import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { HttpExchange } from '../../src/core/exchange.js';
import { loadWireMockStubFiles } from '../../src/mock/wiremock-stubs.js';
import { createFileStoreWriter } from '../../src/store/file-store.js';
import { httpExchange, pgExchange } from '../helpers/exchanges.js';
import { runCli } from '../helpers/cli.js';
import { scratchDir } from '../helpers/formats.js';

describe('doppel export wiremock', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
  });

  it('writes one mapping per HTTP exchange into DIR/mappings that the stub loader reads back', async () => {
    const s = await scratchDir();
    cleanups.push(s.cleanup);
    const traffic = join(s.dir, 'traffic');
    const w = await createFileStoreWriter({ dir: traffic });
    const get = httpExchange({ url: '/orders/1?expand=items', status: 200, body: '{"id":1}', direction: 'outbound', service: 'orders-api' });
    get.http.response!.headers = [['Content-Type', 'application/json'], ['Content-Length', '8'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']];
    const post = httpExchange({ url: '/charges', status: 201 });
    post.http.request = { ...post.http.request, method: 'POST', headers: [['Content-Type', 'application/json']], body: '{"amount":12,"currency":"EUR"}' };
    post.http.response = { status: 201, headers: [['Content-Type', 'image/png']], body: Buffer.from([0, 255, 1]).toString('base64'), bodyEncoding: 'base64', truncated: false };
    const dup = httpExchange({ url: '/search?tag=a&tag=b' });
    const failed: HttpExchange = { ...httpExchange({ url: '/down' }), http: { request: httpExchange().http.request, response: null, error: { code: 'ECONNRESET', message: 'reset' } } };
    for (const ex of [get, pgExchange('SELECT 1', 1), post, dup, failed]) await w.append(ex);
    await w.close();

    const out = join(s.dir, 'wm');
    const r = await runCli(['export', 'wiremock', '--traffic', traffic, '--out', out]);
    expect(r.stderr).toContain(`exchange ${failed.id}: no response was recorded`);
    expect(r.stderr).toContain('exported 3 exchanges, skipped 1, 1 pg exchanges left out');
    expect(r.code).toBe(0);

    const files = (await readdir(join(out, 'mappings'))).sort();
    expect(files).toEqual(['000001-get-orders-1.json', '000002-post-charges.json', '000003-get-search.json']);
    const stubs = await loadWireMockStubFiles(files.map((f) => join(out, 'mappings', f)));
    const [g, p, d] = stubs;
    expect(g).toMatchObject({ method: 'GET', url: { kind: 'urlPath', value: '/orders/1' }, query: [{ name: 'expand', matcher: { kind: 'equalTo', value: 'items' } }] });
    expect(g?.response.status).toBe(200);
    expect(g?.response.headers).toEqual(['Content-Type', 'application/json', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2']);
    expect(g?.response.body.toString()).toBe('{"id":1}');
    expect(p).toMatchObject({ method: 'POST', url: { kind: 'urlPath', value: '/charges' }, body: [{ kind: 'equalToJson', json: { amount: 12, currency: 'EUR' } }] });
    expect(p?.response.body).toEqual(Buffer.from([0, 255, 1]));
    expect(d).toMatchObject({ url: { kind: 'url', value: '/search?tag=a&tag=b' } });
  });

  it('refuses a traffic path that is not a traffic directory, exit 2', async () => {
    const s = await scratchDir();
    cleanups.push(s.cleanup);
    const r = await runCli(['export', 'wiremock', '--traffic', join(s.dir, 'missing'), '--out', join(s.dir, 'wm')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('traffic directory does not exist');
  });
});
