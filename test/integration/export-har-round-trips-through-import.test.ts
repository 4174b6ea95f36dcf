import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { HttpExchange } from '../../src/core/exchange.js';
import { createFileStoreWriter } from '../../src/store/file-store.js';
import { httpExchange, pgExchange } from '../helpers/exchanges.js';
import { runCli } from '../helpers/cli.js';
import { readAll, scratchDir } from '../helpers/formats.js';

const binary = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x41, 0xc3, 0x28]);

function recorded(): HttpExchange[] {
  const json = httpExchange({ url: '/orders/1?expand=items&expand=owner', status: 200, body: '{"id":1,"name":"ä€"}' });
  json.http.request.headers = [['Host', 'orders'], ['X-Dup', 'one'], ['Accept', '*/*'], ['x-dup', 'two']];
  json.http.response!.headers = [['Content-Type', 'application/json'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']];
  const upload = httpExchange({ url: '/upload', status: 201 });
  upload.http.request = { method: 'PUT', url: '/upload', headers: [['Host', 'orders'], ['Content-Type', 'application/octet-stream']], body: binary.toString('base64'), bodyEncoding: 'base64', truncated: false };
  upload.http.response = { status: 201, headers: [['Content-Type', 'image/png']], body: binary.toString('base64'), bodyEncoding: 'base64', truncated: false };
  return [json, upload];
}

describe('doppel export har', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
  });

  it('a long export waits for the file many times and leaves no listener behind (no MaxListenersExceededWarning)', async () => {
    const s = await scratchDir();
    cleanups.push(s.cleanup);
    const traffic = join(s.dir, 'traffic');
    const writer = await createFileStoreWriter({ dir: traffic });
    // 64 KiB bodies: every few entries fill the file stream's buffer, so write() waits for 'drain' far more than ten times
    const big = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 40; i++) await writer.append(httpExchange({ url: `/big/${i}`, status: 200, body: big }));
    await writer.close();
    const exp = await runCli(['export', 'har', '--traffic', traffic, '--out', join(s.dir, 'big.har')]);
    expect(exp.stderr).toContain('exported 40 exchanges');
    expect(exp.stderr).not.toContain('MaxListenersExceededWarning');
    expect(exp.code).toBe(0);
  });

  it('import(export(x)) keeps method, url, headers, status and bodies byte for byte; pg exchanges are left out and counted', async () => {
    const s = await scratchDir();
    cleanups.push(s.cleanup);
    const traffic = join(s.dir, 'traffic');
    const writer = await createFileStoreWriter({ dir: traffic });
    const originals = recorded();
    await writer.append(originals[0] as HttpExchange);
    await writer.append(pgExchange('SELECT 1', 1));
    await writer.append(originals[1] as HttpExchange);
    await writer.close();

    const harFile = join(s.dir, 'out', 'traffic.har');
    const exp = await runCli(['export', 'har', '--traffic', traffic, '--out', harFile]);
    expect(exp.stderr).toContain('exported 2 exchanges, skipped 0, 1 pg exchanges left out');
    expect(exp.code).toBe(0);
    const doc = JSON.parse(await readFile(harFile, 'utf8')) as { log: { version: string; entries: Array<{ request: { url: string } }> } };
    expect(doc.log.version).toBe('1.2');
    expect(doc.log.entries.map((e) => e.request.url)).toEqual(['http://orders/orders/1?expand=items&expand=owner', 'http://orders/upload']);

    const back = join(s.dir, 'back');
    const imp = await runCli(['import', 'har', harFile, '--out', back]);
    expect(imp.code).toBe(0);
    const got = (await readAll(back)) as HttpExchange[];
    expect(got).toHaveLength(2);
    got.forEach((g, i) => {
      const o = originals[i] as HttpExchange;
      expect(g.http.request).toEqual(o.http.request);
      expect(g.http.response).toEqual(o.http.response);
      expect(g.service).toBe(o.service);
      expect(g.session).toBe(o.session);
      expect(g.startedAt).toBe(o.startedAt);
    });
  });

  it('refuses a missing traffic directory and a missing --traffic, exit 2', async () => {
    const s = await scratchDir();
    cleanups.push(s.cleanup);
    const r = await runCli(['export', 'har', '--traffic', join(s.dir, 'none'), '--out', join(s.dir, 'x.har')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('traffic directory does not exist');
    const r2 = await runCli(['export', 'har', '--out', join(s.dir, 'x.har')]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain('export har needs --traffic');
  });
});
