/**
 * Shadow between a primary compressing with zlib streams and a fastify +
 * @fastify/compress candidate, every pair sent to the judge's worker pool
 * (judge_inline_bytes: 1): bodies are decoded off the event loop, the planted
 * change inside a gzip body is found at its path, br ids are absorbed by an
 * ignore rule, and the candidate's bomb is cut at the cap and counted.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { request } from 'undici';
import { startShadowService } from '../../src/shadow/shadow-service.js';
import { CompareSchema, CutoffsSchema, ShadowSchema, type CompareConfig, type ShadowConfig } from '../../src/config/schema.js';
import { resolveCompare, resolveShadow } from '../../src/config/resolve.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { createLogger } from '../../src/core/logger.js';
import type { DiffRecord } from '../../src/report/types.js';
import { CODED_PLAN, serviceRoute, startFastifyCompressServer, startZlibServer } from '../helpers/compressing-servers.js';
import { BOMB_INFLATED_BYTES, memorySnapshot } from '../helpers/compression-bombs.js';
import { metricValue } from '../helpers/http.js';

const timeouts = { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 5_000, upstreamMs: 10_000 };

describe('shadow judges compressed bodies', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('decodes both sides in the worker pool, reports the planted gzip change at its path and cuts the bomb', async () => {
    const primary = await startZlibServer(serviceRoute('baseline'));
    const candidate = await startFastifyCompressServer(serviceRoute('candidate'));
    const dir = await mkdtemp(join(tmpdir(), 'doppel-shadow-coding-'));
    cleanup.push(() => primary.close(), () => candidate.close(), () => rm(dir, { recursive: true, force: true }));
    const metrics = createMetrics();
    const shadow = await startShadowService({
      shadow: resolveShadow(Value.Default(ShadowSchema, {
        listen: '127.0.0.1:0',
        primary: primary.url,
        candidate: candidate.url,
        report: dir,
        judge_inline_bytes: 1,
        max_body_bytes: '2mb',
        drain_timeout: '5s',
      }) as ShadowConfig),
      compare: resolveCompare(Value.Default(CompareSchema, { value_classes: false, ignore: ['$.requestId'], max_body_bytes: '2mb' }) as CompareConfig),
      gates: { body_match_rate: '>= 0.99' },
      cutoffs: Value.Default(CutoffsSchema, {}) as never,
      runId: 'coding-run',
      log: createLogger({ level: 'silent' }),
      metrics,
      timeouts,
    });
    let isClosed = false;
    cleanup.push(async () => {
      if (!isClosed) await shadow.close();
    });

    const before = memorySnapshot();
    for (const [path, coding] of CODED_PLAN) {
      const res = await request(`${shadow.url}${path}`, { headers: { 'accept-encoding': coding } });
      // the primary's answer reaches the client as it was sent
      expect(res.headers['content-encoding']).toBe(coding);
      await res.body.arrayBuffer();
    }
    while ((shadow.run.view() as { total: { counts: { requests: number } } }).total.counts.requests < CODED_PLAN.length) await new Promise((r) => setTimeout(r, 10));
    const after = memorySnapshot();
    isClosed = true;
    await shadow.close();

    const text = await readFile(join(dir, 'diffs.ndjson'), 'utf8');
    const diffs = text.trim().split('\n').map((l) => JSON.parse(l) as DiffRecord);
    const byEndpoint = new Map(diffs.map((d) => [d.endpoint, d]));
    expect([...byEndpoint.keys()].sort()).toEqual(['GET /bomb', 'GET /orders/:id']);
    expect(byEndpoint.get('GET /orders/:id')?.diffs).toEqual([{ path: '$.total', kind: 'changed', expected: 30, actual: 31 }]);
    expect(byEndpoint.get('GET /bomb')?.flags).toEqual(['candidate-decode-over-limit']);
    expect(await metricValue(metrics, 'doppel_body_decode_failures_total', { stage: 'compare', reason: 'over_limit' })).toBe(1);
    // nothing was dropped: every pair was judged (in the pool), none refused
    expect(await metricValue(metrics, 'doppel_shadow_dropped_total')).toBe(0);
    expect(await metricValue(metrics, 'doppel_compare_total', { result: 'match' })).toBe(CODED_PLAN.length - 2);
    expect(after.rss - before.rss).toBeLessThan(BOMB_INFLATED_BYTES / 4);
  });
});
