import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { startHttpCaptureProxy } from '../../src/capture/http-capture-proxy.js';
import { createRecorder } from '../../src/capture/recorder.js';
import { createRecordFilter } from '../../src/capture/record-filter.js';
import { createRedactor } from '../../src/core/redact.js';
import { createSessionKeyer, parseSessionKey } from '../../src/core/sessions.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import type { ExchangeWriter } from '../../src/store/types.js';
import type { Exchange } from '../../src/core/exchange.js';
import { createTestRecorder, metricValue, readExchanges, silentLogger, startUpstream, tempDir, TIMEOUTS, type Upstream } from '../helpers/http.js';

describe('recording never holds up proxying', () => {
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of closers.reverse()) await c();
    closers.length = 0;
  });

  async function upstreamOk(): Promise<Upstream> {
    const u = await startUpstream((req, res) => {
      req.resume();
      req.on('end', () => res.end('x'.repeat(500)));
    });
    closers.push(() => u.close());
    return u;
  }

  it('drops with reason queue_full while the store is stuck, and every client still gets its response', async () => {
    const upstream = await upstreamOk();
    const metrics = createMetrics();
    const { log } = silentLogger();
    const appended: Exchange[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    // a store that accepts lines but never finishes writing until the test releases it
    const stuck: ExchangeWriter = {
      bytesWritten: 0,
      append: async (ex) => {
        appended.push(ex);
        await gate;
      },
      flush: async () => gate,
      close: async () => gate,
    };
    const recorder = createRecorder({
      writer: stuck,
      log,
      metrics,
      redactor: createRedactor({ key: Buffer.from('k') }),
      sessionKeyer: createSessionKeyer(parseSessionKey('exchange'), (v) => v),
      queueItems: 3,
      queueBytes: 1024 * 1024,
      maxInFlightBytes: 1,
    });
    const proxy = await startHttpCaptureProxy({
      listen: '127.0.0.1:0', target: upstream.url, service: 'app', direction: 'inbound', sink: recorder,
      maxBodyBytes: 1024, timeouts: TIMEOUTS, rewriteHost: false, log,
    });
    closers.push(() => proxy.close(100));
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await request(`${proxy.url}/item/${i}`);
      statuses.push(r.statusCode);
      expect((await r.body.text()).length).toBe(500);
    }
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(await metricValue(metrics, 'doppel_record_dropped_total', { reason: 'queue_full' })).toBeGreaterThan(0);
    expect(appended.length).toBeLessThan(20);
    release();
    await recorder.close();
  });

  it('stops recording at the disk quota, counts it, and keeps proxying', async () => {
    const upstream = await upstreamOk();
    const t = await tempDir();
    closers.push(t.cleanup);
    const setup = await createTestRecorder(t.dir, { quotaBytes: 3000 });
    const proxy = await startHttpCaptureProxy({
      listen: '127.0.0.1:0', target: upstream.url, service: 'app', direction: 'inbound', sink: setup.recorder,
      maxBodyBytes: 4096, timeouts: TIMEOUTS, rewriteHost: false, log: setup.log,
    });
    closers.push(() => proxy.close(100));
    for (let i = 0; i < 30; i++) {
      const r = await request(`${proxy.url}/q/${i}`, { method: 'POST', body: 'y'.repeat(300) });
      expect(r.statusCode).toBe(200);
      await r.body.text();
    }
    await setup.recorder.close();
    expect(await metricValue(setup.metrics, 'doppel_record_dropped_total', { reason: 'quota' })).toBeGreaterThan(0);
    let onDisk = 0;
    for (const f of await readdir(t.dir)) if (f.endsWith('.ndjson')) onDisk += (await stat(join(t.dir, f))).size;
    // at most one exchange line past the quota
    expect(onDisk).toBeLessThan(3000 + 2500);
    expect((await readExchanges(t.dir)).length).toBeLessThan(30);
  });

  it('samples, filters health probes and honours pause/resume', async () => {
    const upstream = await upstreamOk();
    const t = await tempDir();
    closers.push(t.cleanup);
    const setup = await createTestRecorder(t.dir);
    let n = 0;
    const proxy = await startHttpCaptureProxy({
      listen: '127.0.0.1:0', target: upstream.url, service: 'app', direction: 'inbound', sink: setup.recorder,
      decide: createRecordFilter({ sample: 0.5, excludeHealth: true, random: () => (n++ % 2 === 0 ? 0.1 : 0.9) }),
      maxBodyBytes: 4096, timeouts: TIMEOUTS, rewriteHost: false, log: setup.log,
    });
    closers.push(() => proxy.close(100));
    const get = async (p: string) => {
      const r = await request(`${proxy.url}${p}`);
      await r.body.text();
      return r.statusCode;
    };
    for (let i = 0; i < 10; i++) expect(await get(`/s/${i}`)).toBe(200);
    expect(await get('/healthz')).toBe(200);
    setup.recorder.pause();
    expect(await get('/while-paused')).toBe(200);
    setup.recorder.resume();
    await setup.recorder.close();
    const urls = (await readExchanges(t.dir)).map((e) => e.http.request.url);
    expect(urls.length).toBe(5);
    expect(urls).not.toContain('/healthz');
    expect(urls).not.toContain('/while-paused');
    expect(await metricValue(setup.metrics, 'doppel_record_dropped_total', { reason: 'sampled_out' })).toBe(5);
    expect(await metricValue(setup.metrics, 'doppel_record_dropped_total', { reason: 'filtered' })).toBe(1);
    expect(await metricValue(setup.metrics, 'doppel_record_dropped_total', { reason: 'paused' })).toBe(1);
    expect(await metricValue(setup.metrics, 'doppel_exchanges_recorded_total', { service: 'app', direction: 'inbound', protocol: 'http' })).toBe(5);
  });

  it('caps recorded bodies and marks them truncated while the client gets every byte', async () => {
    const big = Buffer.alloc(100_000, 0x61);
    const upstream = await startUpstream((req, res) => {
      req.resume();
      req.on('end', () => res.end(big));
    });
    closers.push(() => upstream.close());
    const t = await tempDir();
    closers.push(t.cleanup);
    const setup = await createTestRecorder(t.dir);
    const proxy = await startHttpCaptureProxy({
      listen: '127.0.0.1:0', target: upstream.url, service: 'app', direction: 'inbound', sink: setup.recorder,
      maxBodyBytes: 1000, timeouts: TIMEOUTS, rewriteHost: false, log: setup.log,
    });
    closers.push(() => proxy.close(100));
    const r = await request(`${proxy.url}/big`, { method: 'POST', body: big });
    expect(Buffer.from(await r.body.arrayBuffer()).equals(big)).toBe(true);
    await setup.recorder.close();
    const [ex] = await readExchanges(t.dir);
    expect(ex?.http.request.truncated).toBe(true);
    expect(ex?.http.request.body.length).toBe(1000);
    expect(ex?.http.response?.truncated).toBe(true);
    expect(ex?.http.response?.body.length).toBe(1000);
    expect(await metricValue(setup.metrics, 'doppel_exchanges_truncated_total', { service: 'app' })).toBe(1);
  });
});
