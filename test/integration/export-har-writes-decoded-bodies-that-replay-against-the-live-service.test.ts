/**
 * HAR holds bodies "HTTP decoded (decompressed & unchunked)" (HAR 1.2,
 * content). Traffic recorded from a compressing service exports as decoded
 * text with the Content-Encoding header kept and the sizes noted, imports
 * back as decoded bodies, and those judge equal to the live service that
 * still compresses.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import zlib from 'node:zlib';
import { request } from 'undici';
import pino from 'pino';
import { startHttpCaptureProxy } from '../../src/capture/http-capture-proxy.js';
import { systemClock } from '../../src/core/clock.js';
import { decodeBody, type HttpExchange } from '../../src/core/exchange.js';
import { parseConfig } from '../../src/config/load.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { runReplay } from '../../src/replay/run-replay.js';
import { runCli } from '../helpers/cli.js';
import { startZlibServer, type CompressingServer } from '../helpers/compressing-servers.js';
import { createTestRecorder, readExchanges, tempDir, TIMEOUTS } from '../helpers/http.js';

interface HarEntry {
  request: { method: string; url: string; headers: Array<{ name: string; value: string }>; postData?: { text: string; encoding?: string }; bodySize: number };
  response: {
    headers: Array<{ name: string; value: string }>;
    content: { size: number; compression?: number; text: string; encoding?: string; comment?: string };
    bodySize: number;
  };
}

const header = (list: Array<{ name: string; value: string }>, name: string) => list.find((h) => h.name.toLowerCase() === name)?.value;
const doc = (id: number) => ({ id, lines: Array.from({ length: 20 }, (_, i) => ({ n: i, text: `line ${i} of ${id}` })) });

describe('doppel export har with compressed bodies', () => {
  let service: CompressingServer;
  let scratch: { dir: string; cleanup: () => Promise<void> };
  const traffic = () => join(scratch.dir, 'traffic');

  beforeAll(async () => {
    service = await startZlibServer((req) => {
      if (req.url === '/corrupt') return { raw: Buffer.from('this was never gzip'), coding: 'gzip' };
      if (req.method === 'POST') return { status: 201, json: { created: req.json } };
      return { json: doc(Number(req.url.split('/')[2])) };
    });
    scratch = await tempDir('doppel-har-coding-');
    const setup = await createTestRecorder(traffic());
    const proxy = await startHttpCaptureProxy({
      listen: '127.0.0.1:0',
      target: service.url,
      service: 'docs',
      direction: 'inbound',
      sink: setup.recorder,
      maxBodyBytes: 1024 * 1024,
      timeouts: TIMEOUTS,
      rewriteHost: false,
      log: setup.log,
    });
    for (const [path, coding] of [['/docs/1', 'gzip'], ['/docs/2', 'br'], ['/docs/3', 'deflate'], ['/corrupt', 'gzip']] as const) {
      const res = await request(`${proxy.url}${path}`, { headers: { 'accept-encoding': coding } });
      await res.body.arrayBuffer();
    }
    const posted = await request(`${proxy.url}/docs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', 'accept-encoding': 'gzip' },
      body: zlib.gzipSync(JSON.stringify({ title: 'new' })),
    });
    await posted.body.arrayBuffer();
    await setup.recorder.flush();
    await proxy.close(100);
    await setup.recorder.close();
  });

  afterAll(async () => {
    await service.close();
    await scratch.cleanup();
  });

  it('writes decoded text, keeps Content-Encoding, notes sizes and compression; imported back it judges equal to the live service', async () => {
    const recorded = await readExchanges(traffic());
    const rawSize = new Map(recorded.map((e) => [e.http.request.url + e.http.request.method, decodeBody(e.http.response!.body, e.http.response!.bodyEncoding).length]));
    const harFile = join(scratch.dir, 'traffic.har');
    const exp = await runCli(['export', 'har', '--traffic', traffic(), '--out', harFile]);
    expect(exp.stderr).toContain('exported 5 exchanges');
    expect(exp.code).toBe(0);
    const entries = (JSON.parse(await readFile(harFile, 'utf8')) as { log: { entries: HarEntry[] } }).log.entries;
    expect(entries).toHaveLength(5);
    for (const [i, coding] of [[1, 'gzip'], [2, 'br'], [3, 'deflate']] as const) {
      const e = entries.find((x) => x.request.url.endsWith(`/docs/${i}`)) as HarEntry;
      const c = e.response.content;
      expect(JSON.parse(c.text)).toEqual(doc(i));
      expect(c.encoding).toBeUndefined();
      expect(header(e.response.headers, 'content-encoding')).toBe(coding);
      expect(c.size).toBe(Buffer.byteLength(c.text));
      expect(e.response.bodySize).toBe(rawSize.get(`/docs/${i}GET`));
      expect(c.compression).toBe(c.size - e.response.bodySize);
      expect(c.compression).toBeGreaterThan(0);
    }
    const post = entries.find((x) => x.request.method === 'POST') as HarEntry;
    expect(post.request.postData?.text).toBe('{"title":"new"}');
    expect(post.request.bodySize).toBe(zlib.gzipSync(JSON.stringify({ title: 'new' })).length);
    expect(JSON.parse(post.response.content.text)).toEqual({ created: { title: 'new' } });
    // a body that does not decode is given as received, and the entry says why
    const corrupt = entries.find((x) => x.request.url.endsWith('/corrupt')) as HarEntry;
    expect(corrupt.response.content.text).toBe('this was never gzip');
    expect(corrupt.response.content.comment).toContain('gzip body does not decode');

    const back = join(scratch.dir, 'back');
    const imp = await runCli(['import', 'har', harFile, '--out', back]);
    expect(imp.code).toBe(0);
    const imported = await readExchanges(back);
    const one = imported.find((e) => e.http.request.url === '/docs/1') as HttpExchange;
    expect(JSON.parse(one.http.response!.body)).toEqual(doc(1));
    expect(header(one.http.response!.headers.map(([name, value]) => ({ name, value })), 'content-encoding')).toBeUndefined();
    const importedPost = imported.find((e) => e.http.request.method === 'POST') as HttpExchange;
    expect(importedPost.http.request.body).toBe('{"title":"new"}');
    expect(importedPost.http.request.headers.some(([k]) => k.toLowerCase() === 'content-encoding')).toBe(false);

    // the decoded HAR bodies judge equal to the service, which still answers compressed
    const cfg = parseConfig('', 'test.yaml', {});
    const seenBefore = service.seen.length;
    const res = await runReplay(
      { replay: { ...cfg.replay, traffic: [back], target: service.url, time_scale: 1000 }, compare: cfg.compare, gates: { body_match_rate: '>= 1' }, cutoffs: cfg.cutoffs, vars: {} },
      { log: pino({ level: 'silent' }), metrics: createMetrics(), clock: systemClock },
    );
    expect(service.seen.length - seenBefore).toBe(5);
    expect(res.counts).toMatchObject({ sent: 5, passed: 5, failed: 0 });
    expect(res.verdict).toBe('pass');
  });
});
