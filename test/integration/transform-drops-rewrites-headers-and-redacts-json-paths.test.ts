import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { HttpExchange } from '../../src/core/exchange.js';
import { createRedactor } from '../../src/core/redact.js';
import { createFileStoreWriter } from '../../src/store/file-store.js';
import { httpExchange, pgExchange } from '../helpers/exchanges.js';
import { runCli } from '../helpers/cli.js';
import { readAll, scratchDir } from '../helpers/formats.js';

const RULES = `
drop: ["GET /healthz", "* /admin/**"]
set_headers:
  request: { X-Env: staging }
remove_headers:
  request: [Cookie]
  response: [set-cookie]
redact_json_paths: ["$.card.number"]
`;

describe('doppel transform', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
  });

  it('drops by method and path glob, sets and removes header fields, redacts JSON paths with the capture key; pg passes through', async () => {
    const s = await scratchDir();
    cleanups.push(s.cleanup);
    const input = join(s.dir, 'in');
    const w = await createFileStoreWriter({ dir: input });
    const pay = httpExchange({ url: '/pay', body: '{"card":{"number":"4111"},"ok":true}' });
    pay.http.request = { ...pay.http.request, method: 'POST', headers: [['Host', 'shop'], ['Cookie', 'sid=1'], ['X-Env', 'prod']], body: '{"card":{"number":"4111","cvc":"1"}}' };
    pay.http.response!.headers = [['Content-Type', 'application/json'], ['Set-Cookie', 'sid=2']];
    for (const ex of [httpExchange({ url: '/healthz' }), pay, httpExchange({ url: '/admin/users/1' }), pgExchange('SELECT 1', 1)]) await w.append(ex);
    await w.close();
    const rules = join(s.dir, 'rules.yaml');
    await writeFile(rules, RULES);

    const out = join(s.dir, 'out');
    const r = await runCli(['transform', '--in', input, '--out', out, '--rules', rules], { env: { DOPPEL_REDACT_KEY: 'k' } });
    expect(r.stderr).toContain('wrote 2 exchanges, skipped 0, 2 dropped by rules');
    expect(r.code).toBe(0);
    const got = await readAll(out);
    expect(got.map((e) => e.protocol)).toEqual(['http', 'pg']);
    const t = got[0] as HttpExchange;
    const placeholder = createRedactor({ key: Buffer.from('k') }).placeholder('4111');
    expect(t.http.request.headers).toEqual([['Host', 'shop'], ['X-Env', 'staging']]);
    expect(t.http.response?.headers).toEqual([['Content-Type', 'application/json']]);
    expect(JSON.parse(t.http.request.body)).toEqual({ card: { number: placeholder, cvc: '1' } });
    expect(JSON.parse(t.http.response?.body ?? '')).toEqual({ card: { number: placeholder }, ok: true });
    expect(t.tags.transformed).toBe('true');
  });

  it('refuses rules with mistakes, listing each, and a missing --out, exit 2', async () => {
    const s = await scratchDir();
    cleanups.push(s.cleanup);
    const rules = join(s.dir, 'bad.yaml');
    await writeFile(rules, 'drop: ["GET healthz"]\nredact_json_paths: ["card.number"]\nrename: {}\n');
    const r = await runCli(['transform', '--in', s.dir, '--out', join(s.dir, 'o'), '--rules', rules]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('3 problems in transform rules');
    expect(r.stderr).toContain('drop[0]: expected "METHOD /path/glob"');
    expect(r.stderr).toContain('redact_json_paths[0]');
    expect(r.stderr).toContain('rename: unknown key');
    const r2 = await runCli(['transform', '--in', s.dir]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain('transform needs --in DIR and --out DIR');
  });
});
