import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createFileStoreWriter } from '../../src/store/file-store.js';
import { httpExchange, pgExchange } from '../helpers/exchanges.js';
import { runCli } from '../helpers/cli.js';
import { scratchDir } from '../helpers/formats.js';

interface Call {
  method: string;
  url: string;
  body: unknown;
  headers: Record<string, string>;
  group: string;
}

describe('doppel export k6', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
  });

  it('writes an ES module with one http.request per inbound exchange, grouped by session, credentials left out', async () => {
    const s = await scratchDir();
    cleanups.push(s.cleanup);
    const traffic = join(s.dir, 'traffic');
    const w = await createFileStoreWriter({ dir: traffic });
    const a1 = httpExchange({ url: '/cart', session: 'u-1' });
    a1.http.request.headers = [['Host', 'shop'], ['Authorization', 'Bearer redacted:hmac:0123456789abcdef'], ['Accept', 'application/json'], ['Cookie', 'a=1'], ['Cookie', 'b=2']];
    const b1 = httpExchange({ url: '/orders/9', session: 'u-2', status: 404 });
    const a2 = httpExchange({ url: '/cart/items?x="quoted"', session: 'u-1', status: 201 });
    a2.http.request = { ...a2.http.request, method: 'POST', body: '{"sku":"a\\u2028b"}' };
    const bin = httpExchange({ url: '/upload', session: 'u-2' });
    bin.http.request = { ...bin.http.request, method: 'PUT', body: Buffer.from([0, 255]).toString('base64'), bodyEncoding: 'base64' };
    const outbound = httpExchange({ url: '/pay', direction: 'outbound', service: 'payments' });
    for (const ex of [a1, b1, outbound, pgExchange('SELECT 1', 1), a2, bin]) await w.append(ex);
    await w.close();

    const script = join(s.dir, 'load.js');
    const r = await runCli(['export', 'k6', '--traffic', traffic, '--out', script]);
    expect(r.stderr).toContain('exported 4 exchanges, skipped 0, 1 outbound exchanges left out (k6 drives the service under test), 1 pg exchanges left out');
    expect(r.code).toBe(0);
    const text = await readFile(script, 'utf8');
    expect(text).toContain("import http from 'k6/http';");
    expect(text).toContain('export default function () {');
    expect(text.match(/http\.request\(/g)).toHaveLength(4);
    expect(text).not.toContain('redacted:hmac');

    // Syntax check as an ES module, then run it against stand-ins for the k6 modules.
    const copy = join(s.dir, 'load.mjs');
    await writeFile(copy, text);
    const check = spawnSync(process.execPath, ['--check', copy], { encoding: 'utf8' });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
    await writeFile(
      join(s.dir, 'k6-stub.mjs'),
      `export const calls = []; export const checks = []; let current = '';
export default { request(method, url, body, params) { calls.push({ method, url, body: body instanceof ArrayBuffer ? [...new Uint8Array(body)] : body, headers: params.headers, group: current }); return { status: 200 }; } };
export const encodingStub = { b64decode(s) { const b = Buffer.from(s, 'base64'); return b.buffer.slice(b.byteOffset, b.byteOffset + b.length); } };
export function check(res, sets) { for (const name of Object.keys(sets)) checks.push(name); }
export function group(name, fn) { current = name; fn(); }
`,
    );
    const runnable = text
      .replace("import http from 'k6/http';", "import http from './k6-stub.mjs';")
      .replace("import encoding from 'k6/encoding';", "import { encodingStub as encoding } from './k6-stub.mjs';")
      .replace("import { check, group } from 'k6';", "import { check, group } from './k6-stub.mjs';");
    await writeFile(join(s.dir, 'run.mjs'), runnable);
    (globalThis as { __ENV?: Record<string, string> }).__ENV = { BASE_URL: 'http://127.0.0.1:9999/' };
    const mod = (await import(pathToFileURL(join(s.dir, 'run.mjs')).href)) as { default: () => void };
    const stub = (await import(pathToFileURL(join(s.dir, 'k6-stub.mjs')).href)) as { calls: Call[]; checks: string[] };
    mod.default();
    expect(stub.calls.map((c) => [c.group, c.method, c.url])).toEqual([
      ['session u-1', 'GET', 'http://127.0.0.1:9999/cart'],
      ['session u-1', 'POST', 'http://127.0.0.1:9999/cart/items?x="quoted"'],
      ['session u-2', 'GET', 'http://127.0.0.1:9999/orders/9'],
      ['session u-2', 'PUT', 'http://127.0.0.1:9999/upload'],
    ]);
    expect(stub.calls[0]?.headers).toEqual({ Accept: 'application/json', Cookie: 'a=1; b=2' });
    expect(stub.calls[1]?.body).toBe('{"sku":"a\\u2028b"}');
    expect(stub.calls[3]?.body).toEqual([0, 255]);
    expect(stub.checks).toEqual(['status is 200', 'status is 201', 'status is 404', 'status is 200']);
  });

  it('refuses a missing --out, exit 2', async () => {
    const r = await runCli(['export', 'k6', '--traffic', 'somewhere']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('export k6 needs --out PATH');
  });
});
