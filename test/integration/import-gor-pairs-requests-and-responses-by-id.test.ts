import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeBody, type HttpExchange } from '../../src/core/exchange.js';
import { runCli } from '../helpers/cli.js';
import { readAll, scratchDir } from '../helpers/formats.js';

const SEP = Buffer.from('\n🐵🙈🙉\n');
const T0 = 1764162000123456789n; // 2025-11-26T13:00:00.123Z in ns

function payload(type: number, id: string, tsNs: bigint, latencyNs: number, raw: string | Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${type} ${id} ${tsNs} ${latencyNs}\n`), typeof raw === 'string' ? Buffer.from(raw, 'latin1') : raw]);
}

describe('doppel import gor', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
  });

  it('pairs type 1 requests with type 2 responses by ID into inbound exchanges, skipping malformed payloads', async () => {
    const s = await scratchDir();
    cleanups.push(s.cleanup);
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff]);
    const payloads = [
      payload(1, 'a1', T0, 0, 'POST /orders?x=1 HTTP/1.1\r\nHost: shop:8080\r\nContent-Type: application/json\r\nX-Dup: 1\r\nx-dup: 2\r\nContent-Length: 9\r\n\r\n{"n":"ä"}'.replace('ä', 'a')),
      payload(1, 'b2', T0 + 1_000_000n, 0, 'GET /logo.png HTTP/1.1\r\nHost: shop\r\n\r\n'),
      payload(2, 'b2', T0 + 3_000_000n, 2_000_000, Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 6\r\n\r\n', 'latin1'), png])),
      payload(3, 'b2', T0 + 9_000_000n, 1_000_000, 'HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n'),
      payload(2, 'a1', T0 + 5_000_000n, 5_500_000, 'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{"id\r\n4\r\n":1}\r\n0\r\n\r\n'),
      payload(1, 'c3', T0, 0, 'GET / HTTP/1.1\r\nHost: shop\r\n  folded\r\n\r\n'),
      Buffer.from('not a gor header\nGET / HTTP/1.1\r\n\r\n'),
      payload(1, 'd4', T0 + 7_000_000n, 0, 'DELETE /orders/1 HTTP/1.1\r\nHost: shop\r\n\r\n'),
      // older GoReplay header lines carry no LATENCY: the duration comes from the timestamps
      Buffer.from(`1 e5 ${T0}\nGET /old HTTP/1.1\r\nHost: shop\r\n\r\n`),
      Buffer.from(`2 e5 ${T0 + 4_000_000n}\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok`),
      payload(2, 'zz', T0, 1, 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'),
    ];
    const file = join(s.dir, 'requests_0.gor');
    await writeFile(file, Buffer.concat(payloads.flatMap((p) => [p, SEP])));
    const out = join(s.dir, 'traffic');
    const r = await runCli(['import', 'gor', file, '--out', out]);
    expect(r.stderr).toContain(`${file} payload 5: request c3: header line 2: obsolete line folding`);
    expect(r.stderr).toContain(`${file} payload 6: no "TYPE ID TIMESTAMP LATENCY" header line`);
    expect(r.stderr).toContain('imported 4 exchanges, skipped 2, 1 replayed responses (type 3) ignored, 1 responses without a request, 1 requests without a recorded response');
    expect(r.code).toBe(0);

    const got = (await readAll(out)) as HttpExchange[];
    expect(got.map((e) => `${e.http.request.method} ${e.http.request.url} -> ${e.http.response?.status ?? 'none'}`)).toEqual(['GET /logo.png -> 200', 'POST /orders?x=1 -> 201', 'GET /old -> 200', 'DELETE /orders/1 -> none']);
    const [logo, post] = got as [HttpExchange, HttpExchange];
    expect(logo).toMatchObject({ direction: 'inbound', service: 'shop', tags: { source: 'gor' }, durationMs: 2, startedAt: '2025-11-26T13:00:00.124Z' });
    expect(decodeBody(logo.http.response?.body ?? '', logo.http.response?.bodyEncoding ?? 'utf8')).toEqual(png);
    expect(logo.http.response?.bodyEncoding).toBe('base64');
    expect(post.http.request.headers).toEqual([['Host', 'shop:8080'], ['Content-Type', 'application/json'], ['X-Dup', '1'], ['x-dup', '2'], ['Content-Length', '9']]);
    expect(post.http.request.body).toBe('{"n":"a"}');
    expect(post.http.response?.body).toBe('{"id":1}');
    expect(post.durationMs).toBe(5.5);
    expect(post.startedAt).toBe('2025-11-26T13:00:00.123Z');
    expect(got[2]?.durationMs).toBe(4);
    expect(new Set(got.map((e) => e.session)).size).toBe(4);
  });

  it('refuses a missing file, exit 2', async () => {
    const s = await scratchDir();
    cleanups.push(s.cleanup);
    const r = await runCli(['import', 'gor', join(s.dir, 'none.gor'), '--out', join(s.dir, 't')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('none.gor: cannot read it');
  });
});
