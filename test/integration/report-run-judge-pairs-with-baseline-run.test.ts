import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLValidator } from 'fast-xml-parser';
import { createRunJudge } from '../../src/report/run-judge.js';
import { readBaselineReport } from '../../src/report/baseline-report.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { DoppelError } from '../../src/core/errors.js';
import { compareConfig, jsonResponse } from '../unit/compare-fixtures.js';
import type { ResponseSample } from '../../src/compare/types.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'doppel-judge-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const withMs = (r: ResponseSample, durationMs: number): ResponseSample => ({ ...r, durationMs });
const order = (id: number, total: number, servedBy = 'a') => jsonResponse({ id, total, servedBy });

describe('run judge', () => {
  it('judges a run, then pairs a second run with it by exchange id for new_mismatch and latency', async () => {
    const first = createRunJudge({
      runId: 'base',
      mode: 'replay',
      compare: compareConfig(),
      gates: { body_match_rate: '>= 0.9' },
      cutoffs: { min_requests: 50 },
      metrics: createMetrics(),
      reportDir: join(dir, 'base'),
    });
    for (let i = 0; i < 10; i++) {
      const candidate = i === 3 ? order(i, 99) : order(i, i);
      first.judge({ exchangeId: `ex-${i}`, endpoint: 'GET /orders/:id', baseline: order(i, i), candidate: withMs(candidate, 10) });
    }
    const baseReport = await first.finish();
    expect(baseReport.verdict).toBe('pass');
    expect(baseReport.counts.mismatches).toBe(1);

    const baselineRun = await readBaselineReport(join(dir, 'base'));
    const metrics = createMetrics();
    const second = createRunJudge({
      runId: 'cand',
      mode: 'replay',
      compare: compareConfig({ learn_noise: 5 }),
      gates: { new_mismatch: '== 0', latency_p50_delta: '<= +10%' },
      cutoffs: { min_requests: 50 },
      metrics,
      reportDir: join(dir, 'cand'),
      baselineRun,
    });
    expect(second.wantsNoiseSample('GET /orders/:id')).toBe(true);
    for (let i = 0; i < 5; i++) second.observeNoise('GET /orders/:id', order(i, i, 'a'), order(i, i, i % 2 ? 'b' : 'a'));
    expect(second.wantsNoiseSample('GET /orders/:id')).toBe(false);
    const results: string[] = [];
    for (let i = 0; i < 10; i++) {
      // the same mismatch as the baseline run on ex-3, a new one on ex-7, noise on ex-5, 20 ms instead of 10
      const candidate = i === 3 ? order(i, 99) : i === 7 ? order(i, -1) : i === 5 ? order(i, i, 'b') : order(i, i);
      results.push(second.judge({ exchangeId: `ex-${i}`, endpoint: 'GET /orders/:id', baseline: order(i, i), candidate: withMs(candidate, 20) }).result);
    }
    results.push(second.judge({ exchangeId: 'ex-10', endpoint: 'GET /orders/:id', baseline: order(10, 10), candidate: undefined, error: 'ECONNRESET' }).result);
    expect(results).toEqual(['match', 'match', 'match', 'mismatch', 'match', 'noise', 'match', 'mismatch', 'match', 'match', 'error']);
    const report = await second.finish();
    expect(report.verdict).toBe('fail');
    const byGate = Object.fromEntries(report.gates.map((g) => [g.gate, g]));
    expect(byGate.new_mismatch).toMatchObject({ value: 1, isPassing: false });
    expect(byGate.latency_p50_delta!.value).toBeCloseTo(1, 1);
    expect(byGate.latency_p50_delta!.isPassing).toBe(false);
    expect(report.baseline).toBe(`baseline run ${join(dir, 'base')}`);
    expect(report.noise[0]).toMatchObject({ path: '$.servedBy', decision: 'noise' });
    expect(report.topDiffs.map((d) => d.path)).toEqual(['$.total']);

    const diffLines = (await readFile(join(dir, 'cand', 'diffs.ndjson'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(diffLines.map((d) => [d.exchangeId, d.result, d.isKnownMismatch ?? false])).toEqual([
      ['ex-3', 'mismatch', true],
      ['ex-7', 'mismatch', false],
      ['ex-10', 'error', false],
    ]);
    expect(diffLines[1].diffs).toEqual([{ path: '$.total', kind: 'changed', expected: 7, actual: -1 }]);
    const resultLines = (await readFile(join(dir, 'cand', 'results.ndjson'), 'utf8')).trim().split('\n');
    expect(resultLines).toHaveLength(11);
    expect(XMLValidator.validate(await readFile(join(dir, 'cand', 'junit.xml'), 'utf8'))).toBe(true);
    const html = await readFile(join(dir, 'cand', 'report.html'), 'utf8');
    expect(html).toContain('new_mismatch');

    const text = await metrics.registry.metrics();
    expect(text).toContain('doppel_compare_total{run_id="cand",mode="replay",endpoint="GET /orders/:id",result="noise"} 1');
    expect(text).toContain('doppel_replay_requests_total{run_id="cand",endpoint="GET /orders/:id",result="error"} 1');
    expect(text).toContain('doppel_gate_passing{run_id="cand",gate="new_mismatch"} 0');
  });

  it('refuses a latency gate without a baseline run or live primary, naming the key', () => {
    let caught: unknown;
    try {
      createRunJudge({ runId: 'r', mode: 'replay', compare: compareConfig(), gates: { latency_p95_delta: '<= +10%' }, cutoffs: { min_requests: 1 }, metrics: createMetrics() });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(DoppelError);
    expect((caught as DoppelError).exitCode).toBe(2);
    expect((caught as DoppelError).details[0]).toMatch(/^quality_gates\.latency_p95_delta: a latency gate needs/);
  });

  it('finishes an aborted run with the cutoff reason in the report', async () => {
    const judge = createRunJudge({
      runId: 'r',
      mode: 'replay',
      compare: compareConfig(),
      gates: {},
      cutoffs: { min_requests: 3, max_5xx_rate: 0.5 },
      metrics: createMetrics(),
      reportDir: dir,
    });
    for (let i = 0; i < 3; i++) judge.judge({ exchangeId: `e${i}`, endpoint: 'GET /', baseline: order(i, i), candidate: jsonResponse({ error: 'boom' }, 503) });
    const reason = judge.cutoff();
    expect(reason).toMatch(/^cutoff max_5xx_rate/);
    const report = await judge.finish({ abortReason: reason! });
    expect(report.verdict).toBe('aborted');
    const summary = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8'));
    expect(summary.abortReason).toBe(reason);
  });
});
