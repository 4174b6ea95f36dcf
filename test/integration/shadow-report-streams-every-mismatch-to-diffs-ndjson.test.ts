/**
 * The shadow report comes from the shared report modules: diffs.ndjson gets
 * every mismatch and every unanswered copy (not only the bounded samples the
 * admin API shows), results.ndjson every judged copy, and summary.json,
 * junit.xml and report.html are written on demand and again at shutdown.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { startShadowService } from '../../src/shadow/shadow-service.js';
import { CompareSchema, CutoffsSchema, ShadowSchema, type ShadowConfig, type CompareConfig } from '../../src/config/schema.js';
import { resolveCompare, resolveShadow } from '../../src/config/resolve.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { createLogger } from '../../src/core/logger.js';
import { primaryHandler, requestRaw, startPeer } from '../helpers/shadow-peers.js';

const timeouts = { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 5_000, upstreamMs: 10_000 };

interface DiffLine {
  exchangeId: string;
  endpoint: string;
  result: 'mismatch' | 'error';
  candidateStatus?: number;
  diffs: Array<{ path: string }>;
  error?: string;
}

async function lines<T>(file: string): Promise<T[]> {
  const text = await readFile(file, 'utf8');
  return text === '' ? [] : text.trim().split('\n').map((l) => JSON.parse(l) as T);
}

describe('shadow report', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('streams every mismatch and unanswered copy to diffs.ndjson, past the admin sample bound', async () => {
    const primary = await startPeer(primaryHandler);
    // /orders/* differ in the body; /gone/* are reset before any answer; the rest match.
    const candidate = await startPeer((req, body, res) => {
      if (req.url?.startsWith('/gone/') === true) {
        res.socket?.destroy();
        return;
      }
      if (req.url?.startsWith('/orders/') === true) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ method: 'GET', url: req.url, body: 'changed' }));
        return;
      }
      primaryHandler(req, body, res);
    });
    const dir = await mkdtemp(join(tmpdir(), 'doppel-shadow-report-'));
    cleanup.push(() => primary.close(), () => candidate.close(), () => rm(dir, { recursive: true, force: true }));
    const shadow = await startShadowService({
      shadow: resolveShadow(Value.Default(ShadowSchema, { listen: '127.0.0.1:0', primary: primary.url, candidate: candidate.url, report: dir, diff_samples: 2, drain_timeout: '5s' }) as ShadowConfig),
      compare: resolveCompare(Value.Default(CompareSchema, {}) as CompareConfig),
      gates: { body_match_rate: '>= 0.9' },
      cutoffs: Value.Default(CutoffsSchema, {}) as never,
      runId: 'report-run',
      log: createLogger({ level: 'silent' }),
      metrics: createMetrics(),
      timeouts,
    });
    let isClosed = false;
    cleanup.push(async () => {
      if (!isClosed) await shadow.close();
    });

    for (let i = 0; i < 7; i++) await requestRaw(shadow.url, `/orders/${i}`);
    for (let i = 0; i < 3; i++) await requestRaw(shadow.url, `/gone/${i}`);
    for (let i = 0; i < 5; i++) await requestRaw(shadow.url, `/items/${i}`);
    while ((shadow.run.view() as { total: { counts: { requests: number } } }).total.counts.requests < 15) await new Promise((r) => setTimeout(r, 10));
    expect(shadow.run.view()).toMatchObject({ diffs: [expect.anything(), expect.anything()] });

    // On demand, while running: the streams are flushed first.
    expect(await shadow.run.writeReport?.('report-run')).toBe(dir);
    const diffs = await lines<DiffLine>(join(dir, 'diffs.ndjson'));
    expect(diffs.filter((d) => d.result === 'mismatch')).toHaveLength(7);
    expect(diffs.filter((d) => d.result === 'mismatch').every((d) => d.endpoint === 'GET /orders/:id' && d.diffs.some((x) => x.path === '$.body'))).toBe(true);
    const errors = diffs.filter((d) => d.result === 'error');
    expect(errors).toHaveLength(3);
    expect(errors.every((d) => d.endpoint === 'GET /gone/:id' && d.candidateStatus === undefined && d.error?.startsWith('candidate_error') === true)).toBe(true);
    expect(await lines(join(dir, 'results.ndjson'))).toHaveLength(15);
    const summary = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as Record<string, unknown>;
    expect(summary).toMatchObject({
      v: 1,
      mode: 'shadow',
      runId: 'report-run',
      verdict: 'fail',
      target: candidate.url,
      counts: { requests: 15, mismatches: 7, errors: 3 },
      topDiffs: [expect.objectContaining({ endpoint: 'GET /orders/:id', path: '$.body', count: 7 })],
      shadow: { candidate: candidate.url, dropped: { candidate_error: 3 } },
    });
    // Side-by-side samples carry both bodies.
    expect((summary.samples as Array<{ baselineBody?: string; candidateBody?: string }>)[0]).toMatchObject({ baselineBody: expect.stringContaining('"url":"/orders/'), candidateBody: expect.stringContaining('changed') });
    expect(await readFile(join(dir, 'report.html'), 'utf8')).toContain('GET /orders/:id');

    // At shutdown: one more mismatch lands in the final files.
    await requestRaw(shadow.url, '/orders/99');
    isClosed = true;
    await shadow.close();
    expect((await lines<DiffLine>(join(dir, 'diffs.ndjson'))).filter((d) => d.result === 'mismatch')).toHaveLength(8);
    expect(JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8'))).toMatchObject({ counts: { requests: 16, mismatches: 8 } });
    expect(await readFile(join(dir, 'junit.xml'), 'utf8')).toContain('name="GET /orders/:id"');
  });
});
