import { describe, expect, it } from 'vitest';
import { createGateEvaluator } from '../../../src/gates/gate-evaluator.js';
import { judged } from '../../helpers/gates-fixtures.js';

describe('cutoffs', () => {
  it('max_5xx_rate fires only once min_requests results are in, with a reason sentence', () => {
    const e = createGateEvaluator({ gates: {}, cutoffs: { min_requests: 20, max_5xx_rate: 0.2 }, hasLatencyBaseline: false });
    for (let i = 0; i < 19; i++) e.record(judged({ candidateStatus: 503 }));
    expect(e.cutoff()).toBeUndefined();
    e.record(judged({ candidateStatus: 503 }));
    expect(e.cutoff()).toBe('cutoff max_5xx_rate: the candidate answered 5xx where the baseline did not on 100.0% of 20 requests (limit 20.0%)');
    expect(e.verdict()).toBe('aborted');
    // sticky: later good results do not undo an abort
    for (let i = 0; i < 200; i++) e.record(judged());
    expect(e.cutoff()).toMatch(/^cutoff max_5xx_rate/);
  });

  it('does not count 5xx answers the baseline also gave', () => {
    const e = createGateEvaluator({ gates: {}, cutoffs: { min_requests: 1, max_5xx_rate: 0.1 }, hasLatencyBaseline: false });
    for (let i = 0; i < 10; i++) e.record(judged({ candidateStatus: 500, baselineStatus: 500 }));
    expect(e.cutoff()).toBeUndefined();
  });

  it('stays quiet at the limit and fires above it', () => {
    const e = createGateEvaluator({ gates: {}, cutoffs: { min_requests: 10, max_error_rate: 0.2 }, hasLatencyBaseline: false });
    for (let i = 0; i < 10; i++) e.record(i < 2 ? judged({ isAnswered: false, candidateStatus: undefined, outcome: undefined }) : judged());
    expect(e.cutoff()).toBeUndefined();
    e.record(judged({ isAnswered: false, candidateStatus: undefined, outcome: undefined }));
    expect(e.cutoff()).toMatch(/^cutoff max_error_rate: the candidate did not answer 27\.3% of 11 requests/);
  });

  it('max_mock_miss_rate uses mock counters after min_requests', () => {
    const e = createGateEvaluator({ gates: {}, cutoffs: { min_requests: 5, max_mock_miss_rate: 0.2 }, hasLatencyBaseline: false });
    e.addMockCounts({ matched: 6, unmatched: 3, passthrough: 1 });
    for (let i = 0; i < 4; i++) e.record(judged());
    expect(e.cutoff()).toBeUndefined();
    e.record(judged());
    expect(e.cutoff()).toMatch(/^cutoff max_mock_miss_rate: mocks found no recording for 40\.0% of 10 calls/);
  });
});
