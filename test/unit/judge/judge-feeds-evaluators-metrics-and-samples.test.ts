import { Value } from '@sinclair/typebox/value';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createComparator } from '../../../src/compare/comparator.js';
import type { ResponseSample } from '../../../src/compare/types.js';
import { CompareSchema, CutoffsSchema, type CompareConfig, type CutoffsConfig } from '../../../src/config/schema.js';
import { resolveCompare } from '../../../src/config/resolve.js';
import { createGateEvaluator } from '../../../src/gates/gate-evaluator.js';
import { createRunMetrics } from '../../../src/gates/run-metrics.js';
import { createJudge } from '../../../src/judge/judge.js';
import type { JudgePair } from '../../../src/judge/types.js';
import { createMetrics } from '../../../src/metrics/metrics.js';

const compareCfg = resolveCompare(Value.Default(CompareSchema, {}) as CompareConfig);
const cutoffs = Value.Default(CutoffsSchema, {}) as CutoffsConfig;

function json(status: number, doc: unknown, durationMs = 5): ResponseSample {
  return { status, headers: [['Content-Type', 'application/json']], body: Buffer.from(JSON.stringify(doc)), durationMs };
}

function pair(id: string, baseline: ResponseSample, candidate: ResponseSample, extra: Partial<JudgePair> = {}): JudgePair {
  return { id, at: Date.UTC(2026, 0, 1), method: 'GET', url: `/orders/${id}`, endpoint: 'GET /orders/:id', baseline, candidate, baselineMs: baseline.durationMs, ...extra };
}

function setup(maxSamples = 10) {
  const metrics = createMetrics();
  const evaluators = [createGateEvaluator({ gates: { error_rate: '< 0.5' }, cutoffs, hasLatencyBaseline: true }), createGateEvaluator({ gates: {}, cutoffs, hasLatencyBaseline: true })];
  let saturated = 0;
  const judge = createJudge({
    comparator: createComparator(compareCfg),
    noise: undefined,
    evaluators,
    metrics: createRunMetrics(metrics, 'judge-unit', 'replay'),
    maxSamples,
    onSaturated: () => saturated++,
    log: pino({ level: 'silent' }),
  });
  return { judge, evaluators, metrics, saturated: () => saturated };
}

describe('the judge', () => {
  it('judges a match and a mismatch into every evaluator and keeps only the mismatch as a sample', async () => {
    const { judge, evaluators, metrics } = setup();
    const same = await judge.judge(pair('1', json(200, { total: 10 }), json(200, { total: 10 })));
    const changed = await judge.judge(pair('2', json(200, { total: 10 }), json(200, { total: 11 })));
    expect(same?.result).toBe('match');
    expect(changed?.result).toBe('mismatch');
    expect(changed?.outcome.diffs).toEqual([expect.objectContaining({ path: '$.total', expected: 10, actual: 11 })]);
    expect(judge.judged).toBe(2);
    for (const ev of evaluators) expect(ev.counts()).toMatchObject({ requests: 2, answered: 2, mismatches: 1 });
    expect(judge.samples()).toEqual([
      expect.objectContaining({ id: '2', result: 'mismatch', baselineStatus: 200, candidateStatus: 200, at: '2026-01-01T00:00:00.000Z', flags: [] }),
    ]);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/doppel_compare_total\{[^}]*result="mismatch"[^}]*\} 1/);
  });

  it('counts an unanswered request against error_rate and keeps it as an error sample, newest first', async () => {
    const { judge, evaluators } = setup();
    await judge.judge(pair('1', json(200, { a: 1 }), json(500, { a: 1 })));
    judge.unanswered({ id: '2', at: Date.UTC(2026, 0, 1), method: 'GET', url: '/orders/2', endpoint: 'GET /orders/:id', baselineStatus: 200, baselineMs: 4, error: 'candidate_timeout: no answer in 1000 ms' });
    const total = evaluators[0]!;
    expect(total.counts()).toMatchObject({ requests: 2, answered: 1, errors: 1 });
    expect(total.results()).toEqual([expect.objectContaining({ gate: 'error_rate', value: 0.5, isPassing: false })]);
    expect(judge.samples().map((s) => [s.id, s.result, s.error])).toEqual([
      ['2', 'error', 'candidate_timeout: no answer in 1000 ms'],
      ['1', 'mismatch', undefined],
    ]);
  });

  it('keeps at most maxSamples samples, dropping the oldest', async () => {
    const { judge } = setup(2);
    for (const id of ['1', '2', '3']) await judge.judge(pair(id, json(200, { v: 1 }), json(200, { v: 2 })));
    expect(judge.samples().map((s) => s.id)).toEqual(['3', '2']);
  });

  it('tallies the calls the candidate made more often than the primary', async () => {
    const { judge } = setup();
    const call = { service: 'db', key: 'SELECT orders', method: 'SELECT', url: 'SELECT orders', status: undefined };
    const judged = await judge.judge(pair('1', json(200, { v: 1 }), json(200, { v: 1 }), { outbound: { primary: [call], candidate: [call, call, call] } }));
    expect(judged?.result).toBe('match');
    expect(judge.samples()).toEqual([expect.objectContaining({ id: '1', result: 'outbound', outbound: [{ service: 'db', key: 'SELECT orders', primary: 1, candidate: 3 }] })]);
    expect(judge.outbound()).toEqual([expect.objectContaining({ endpoint: 'GET /orders/:id', requests: 1, extraCalls: 2, message: expect.stringContaining('2 more db SELECT orders') })]);
  });

  it('drops a pair whose comparison fails, counting it, and never rejects', async () => {
    const { judge, saturated } = setup();
    const broken = { ...json(200, { v: 1 }), headers: null } as unknown as ResponseSample;
    await expect(judge.judge(pair('1', broken, json(200, { v: 1 })))).resolves.toBeUndefined();
    expect(saturated()).toBe(1);
    expect(judge.judged).toBe(0);
  });
});
