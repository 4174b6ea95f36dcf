import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { startHttpCaptureProxy, type HttpCaptureProxy } from '../../src/capture/http-capture-proxy.js';
import { createTestRecorder, readExchanges, startUpstream, tempDir, TIMEOUTS, type RecorderSetup, type Upstream } from '../helpers/http.js';

const SIZE = 50 * 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 0x5a);

function generate(total: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const n = Math.min(CHUNK.length, total - sent);
      sent += n;
      this.push(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n));
    },
  });
}

describe('record proxy streams large bodies', () => {
  let upstream: Upstream;
  let proxy: HttpCaptureProxy;
  let setup: RecorderSetup;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const t = await tempDir();
    cleanup = t.cleanup;
    upstream = await startUpstream((req, res) => {
      let received = 0;
      req.on('data', (c: Buffer) => (received += c.length));
      req.on('end', () => {
        if (req.method === 'PUT') {
          res.end(String(received));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': SIZE });
        generate(SIZE).pipe(res);
      });
    });
    setup = await createTestRecorder(t.dir);
    proxy = await startHttpCaptureProxy({
      listen: '127.0.0.1:0', target: upstream.url, service: 'app', direction: 'inbound', sink: setup.recorder,
      maxBodyBytes: 1024 * 1024, timeouts: TIMEOUTS, rewriteHost: false, log: setup.log,
    });
  });

  afterAll(async () => {
    await proxy.close(100);
    await setup.recorder.close();
    await upstream.close();
    await cleanup();
  });

  it('moves a 50 MB upload and a 50 MB download with RSS growth far below the body size', async () => {
    // Garbage chunks are freed only when V8 collects their wrappers: collect while sampling so
    // the peak shows what is held, not what is waiting for a collection.
    setFlagsFromString('--expose_gc');
    const gc = runInNewContext('gc') as () => void;
    // Warm the allocator with the same transfers done directly (no proxy), so the growth measured
    // below is the proxy's, not the test client's and server's first big allocations.
    const direct = await request(`${upstream.url}/download`);
    for await (const _c of direct.body) void _c;
    await (await request(`${upstream.url}/upload`, { method: 'PUT', body: generate(SIZE) })).body.text();
    gc();
    const m0 = process.memoryUsage();
    let peak = m0.rss;
    let peakBuffers = m0.arrayBuffers;
    const sampler = setInterval(() => {
      gc();
      const m = process.memoryUsage();
      peak = Math.max(peak, m.rss);
      peakBuffers = Math.max(peakBuffers, m.arrayBuffers);
    }, 50);
    try {
      const up = await request(`${proxy.url}/upload`, { method: 'PUT', body: generate(SIZE), headers: { 'content-type': 'application/octet-stream' } });
      expect(await up.body.text()).toBe(String(SIZE));
      const down = await request(`${proxy.url}/download`);
      let got = 0;
      for await (const c of down.body) got += (c as Buffer).length;
      expect(got).toBe(SIZE);
    } finally {
      clearInterval(sampler);
    }
    const growth = peak - m0.rss;
    const buffers = peakBuffers - m0.arrayBuffers;
    console.log(`rss growth ${(growth / 1048576).toFixed(1)} MiB, buffers ${(buffers / 1048576).toFixed(1)} MiB, for ${SIZE / 1048576} MiB each way`);
    // Bodies stream through: the 1 MB recording cap per direction and chunks in flight are held,
    // never a whole body. In-flight chunks waiting for collection vary with machine load (seen
    // 0-26 MiB of buffers, RSS growth 2.6-25 MiB in full runs), so both bounds sit below one body,
    // not at the typical figure: a proxy that buffered either body would hold at least SIZE. RSS
    // growth includes those buffers, so its bound is not tighter than theirs.
    expect(buffers).toBeLessThan(SIZE * 0.7);
    expect(growth).toBeLessThan(SIZE * 0.7);
    await setup.recorder.flush();
    const ex = await readExchanges(setup.dir);
    expect(ex.find((e) => e.http.request.url === '/upload')?.http.request.truncated).toBe(true);
    expect(ex.find((e) => e.http.request.url === '/download')?.http.response?.truncated).toBe(true);
  });
});
