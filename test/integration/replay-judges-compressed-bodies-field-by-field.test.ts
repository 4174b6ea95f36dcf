/**
 * Traffic recorded through the capture proxy from a service that compresses
 * with zlib streams is replayed against a fastify + @fastify/compress build:
 * gzip, br and deflate bodies are judged field by field, a coding that
 * differs alone is no mismatch, and a decompression bomb is cut at the cap,
 * flagged and counted, with memory far below what it inflates to.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { request } from 'undici';
import pino from 'pino';
import { startHttpCaptureProxy } from '../../src/capture/http-capture-proxy.js';
import { decodeBody } from '../../src/core/exchange.js';
import { systemClock } from '../../src/core/clock.js';
import { parseConfig } from '../../src/config/load.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { runReplay, type ReplayOptions } from '../../src/replay/run-replay.js';
import type { DiffRecord, RunReport } from '../../src/report/types.js';
import { createTestRecorder, metricValue, readExchanges, tempDir, TIMEOUTS } from '../helpers/http.js';
import { CODED_PLAN as plan, serviceRoute, startFastifyCompressServer, startZlibServer, type CompressingServer } from '../helpers/compressing-servers.js';
import { BOMB_INFLATED_BYTES, memorySnapshot } from '../helpers/compression-bombs.js';

const log = pino({ level: 'silent' });
function optionsFor(traffic: string, target: string, report: string, ignore: string[]): ReplayOptions {
  const cfg = parseConfig(`compare:\n  value_classes: false\n  max_body_bytes: 2mb\n  ignore: ${JSON.stringify(ignore)}\n`, 'test.yaml', {});
  return {
    replay: { ...cfg.replay, traffic: [traffic], target, time_scale: 1000, report },
    compare: cfg.compare,
    gates: { body_match_rate: '>= 0.99' },
    cutoffs: cfg.cutoffs,
    vars: {},
  };
}

async function lines<T>(file: string): Promise<T[]> {
  const text = await readFile(file, 'utf8');
  return text.trim() === '' ? [] : text.trim().split('\n').map((l) => JSON.parse(l) as T);
}

describe('replay judges compressed bodies as what they mean', () => {
  let baseline: CompressingServer;
  let candidate: CompressingServer;
  let traffic: { dir: string; cleanup: () => Promise<void> };
  let reports: { dir: string; cleanup: () => Promise<void> };
  /** body bytes the client got through the proxy, by path */
  const received = new Map<string, Buffer>();

  beforeAll(async () => {
    baseline = await startZlibServer(serviceRoute('baseline'));
    candidate = await startFastifyCompressServer(serviceRoute('candidate'));
    traffic = await tempDir('doppel-coding-traffic-');
    reports = await tempDir('doppel-coding-report-');
    const setup = await createTestRecorder(traffic.dir);
    const proxy = await startHttpCaptureProxy({
      listen: '127.0.0.1:0',
      target: baseline.url,
      service: 'orders',
      direction: 'inbound',
      sink: setup.recorder,
      maxBodyBytes: 4 * 1024 * 1024,
      timeouts: TIMEOUTS,
      rewriteHost: false,
      log: setup.log,
    });
    for (const [path, coding] of plan) {
      const res = await request(`${proxy.url}${path}`, { headers: { 'accept-encoding': coding } });
      expect(res.headers['content-encoding']).toBe(coding);
      received.set(path, Buffer.from(await res.body.arrayBuffer()));
    }
    await setup.recorder.flush();
    await proxy.close(100);
    await setup.recorder.close();
  });

  afterAll(async () => {
    await baseline.close();
    await candidate.close();
    await traffic.cleanup();
    await reports.cleanup();
  });

  it('stores the compressed bytes the service sent, with their Content-Encoding', async () => {
    const exchanges = await readExchanges(traffic.dir);
    expect(exchanges).toHaveLength(plan.length);
    for (const ex of exchanges) {
      const res = ex.http.response!;
      expect(res.headers.find(([k]) => k.toLowerCase() === 'content-encoding')?.[1]).toBe(plan.find(([p]) => p === ex.http.request.url)?.[1]);
      expect(decodeBody(res.body, res.bodyEncoding).equals(received.get(ex.http.request.url) as Buffer)).toBe(true);
    }
    const order = exchanges.find((e) => e.http.request.url === '/orders/1')!.http.response!;
    expect(JSON.parse(gunzipSync(decodeBody(order.body, order.bodyEncoding)).toString('utf8'))).toMatchObject({ id: 1, total: 10 });
  });

  it('finds the planted change inside a gzip body at its path, lets an ignore rule absorb an id in br bodies, and cuts the bomb', async () => {
    const metrics = createMetrics();
    const reportDir = join(reports.dir, 'with-rule');
    const before = memorySnapshot();
    const res = await runReplay(optionsFor(traffic.dir, candidate.url, reportDir, ['$.requestId']), { log, metrics, clock: systemClock });
    const after = memorySnapshot();
    expect(candidate.seen).toHaveLength(plan.length);
    expect(res.counts).toMatchObject({ sent: plan.length, errors: 0, failed: 2, passed: plan.length - 2 });
    expect(res.verdict).toBe('fail');

    const diffs = await lines<DiffRecord>(join(reportDir, 'diffs.ndjson'));
    const byEndpoint = new Map(diffs.map((d) => [d.endpoint, d]));
    expect([...byEndpoint.keys()].sort()).toEqual(['GET /bomb', 'GET /orders/:id']);
    const order = byEndpoint.get('GET /orders/:id')!;
    expect(order.diffs).toEqual([{ path: '$.total', kind: 'changed', expected: 30, actual: 31 }]);
    expect(order.flags).toEqual([]);

    const bomb = byEndpoint.get('GET /bomb')!;
    expect(bomb.flags).toEqual(['candidate-decode-over-limit']);
    expect(bomb.diffs).toHaveLength(1);
    expect(String(bomb.diffs[0]?.actual)).toContain('gzip body inflates past the decode cap of 2097152 bytes');
    expect(await metricValue(metrics, 'doppel_body_decode_failures_total', { stage: 'compare', reason: 'over_limit' })).toBe(1);
    // the 1 GiB the bomb inflates to was never held: growth stays a small fraction of it
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(BOMB_INFLATED_BYTES / 8);
    expect(after.rss - before.rss).toBeLessThan(BOMB_INFLATED_BYTES / 4);

    // the report shows the bodies decoded, side by side
    const summary = JSON.parse(await readFile(join(reportDir, 'summary.json'), 'utf8')) as RunReport;
    const sample = summary.samples.find((s) => s.endpoint === 'GET /orders/:id')!;
    expect(JSON.parse(sample.baselineBody as string)).toMatchObject({ id: 3, total: 30 });
    expect(JSON.parse(sample.candidateBody as string)).toMatchObject({ id: 3, total: 31 });
    const html = await readFile(join(reportDir, 'report.html'), 'utf8');
    expect(html).toContain('&quot;total&quot;: 31');
  });

  it('without the ignore rule, the changing id inside every br body is a mismatch at its path', async () => {
    const res = await runReplay(optionsFor(traffic.dir, candidate.url, join(reports.dir, 'no-rule'), []), {
      log,
      metrics: createMetrics(),
      clock: systemClock,
    });
    expect(res.counts.failed).toBe(2 + 5);
    const diffs = await lines<DiffRecord>(join(reports.dir, 'no-rule', 'diffs.ndjson'));
    const profiles = diffs.filter((d) => d.endpoint === 'GET /profiles/:id');
    expect(profiles).toHaveLength(5);
    for (const p of profiles) expect(p.diffs.map((d) => d.path)).toEqual(['$.requestId']);
  });
});
