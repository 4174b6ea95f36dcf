import { describe, expect, it } from 'vitest';
import { checkGatesNeedBaseline, createGateEvaluator } from '../../../src/gates/gate-evaluator.js';
import { DoppelError } from '../../../src/core/errors.js';
import { judged, outcome } from '../../helpers/gates-fixtures.js';

const cutoffs = { min_requests: 50 };

function run(gates: Record<string, string>, feed: (e: ReturnType<typeof createGateEvaluator>) => void, hasLatencyBaseline = false) {
  const e = createGateEvaluator({ gates, cutoffs, hasLatencyBaseline });
  feed(e);
  return e;
}

function times(n: number, f: (i: number) => void) {
  for (let i = 0; i < n; i++) f(i);
}

describe('gate evaluation', () => {
  it('status_pass_rate passes at and above its threshold, fails below', () => {
    const over = run({ status_pass_rate: '>= 0.99' }, (e) => times(100, (i) => e.record(judged({ candidateStatus: i === 0 ? 500 : 200 }))));
    expect(over.results()).toEqual([{ gate: 'status_pass_rate', expression: '>= 0.99', threshold: 0.99, value: 0.99, isPassing: true }]);
    const under = run({ status_pass_rate: '>= 0.99' }, (e) => times(100, (i) => e.record(judged({ candidateStatus: i < 2 ? 500 : 200 }))));
    expect(under.results()[0]).toMatchObject({ value: 0.98, isPassing: false });
    expect(under.verdict()).toBe('fail');
    expect(over.verdict()).toBe('pass');
  });

  it('body_match_rate counts responses; field_match_rate counts fields', () => {
    const e = run({ body_match_rate: '>= 0.95', field_match_rate: '>= 0.99' }, (ev) =>
      times(10, (i) => ev.record(judged({ outcome: i === 0 ? outcome(false, { match: 99, mismatch: 1, ignored: 3 }) : outcome(true, { match: 100, mismatch: 0, ignored: 3 }) }))),
    );
    const [body, field] = e.results();
    expect(body).toMatchObject({ gate: 'body_match_rate', value: 0.9, isPassing: false });
    expect(field).toMatchObject({ gate: 'field_match_rate', value: 999 / 1000, isPassing: true });
  });

  it('counts a comparison whose only differences were noise as a body match', () => {
    const e = run({ body_match_rate: '== 1' }, (ev) => ev.record(judged({ outcome: outcome(true), isNoise: true })));
    expect(e.results()[0]).toMatchObject({ value: 1, isPassing: true });
    expect(e.counts().noise).toBe(1);
  });

  it('mock_match_rate uses deltas of mock counters; passthrough is a miss', () => {
    const e = run({ mock_match_rate: '>= 0.98' }, (ev) => {
      ev.observeMockCounts({ matched: 1000, unmatched: 50, passthrough: 0 });
      ev.observeMockCounts({ matched: 1097, unmatched: 51, passthrough: 2 });
    });
    expect(e.results()[0]).toMatchObject({ value: 0.97, isPassing: false });
    e.addMockCounts({ matched: 100, unmatched: 0, passthrough: 0 });
    expect(e.results()[0]).toMatchObject({ value: 197 / 200, isPassing: true });
    const none = run({ mock_match_rate: '>= 0.98' }, () => {});
    expect(none.results()[0]).toMatchObject({ value: undefined, isPassing: true, note: 'no mock calls observed' });
  });

  it('latency deltas compare percentiles of paired durations', () => {
    const gates = { latency_p50_delta: '<= +10%', latency_p95_delta: '<= +10%', latency_p99_delta: '<= +50%' };
    const e = run(gates, (ev) => {
      times(100, (i) => ev.record(judged({ baselineMs: 10 + i, candidateMs: (10 + i) * (i >= 90 ? 1.3 : 1.05) })));
      // unpaired durations do not count towards the delta
      times(50, () => ev.record(judged({ candidateMs: 10_000 })));
    }, true);
    const [p50, p95, p99] = e.results();
    expect(p50!.value).toBeCloseTo(0.05, 1);
    expect(p50!.isPassing).toBe(true);
    expect(p95!.value).toBeCloseTo(0.3, 1);
    expect(p95!.isPassing).toBe(false);
    expect(p99!.isPassing).toBe(true);
    expect(e.latency().candidate.count).toBe(150);
    expect(e.latency().paired.candidate.count).toBe(100);
  });

  it('a latency gate without paired durations fails and says why', () => {
    const e = run({ latency_p95_delta: '<= +10%' }, (ev) => ev.record(judged({ candidateMs: 5 })));
    expect(e.results()[0]).toMatchObject({ value: undefined, isPassing: false, note: 'no baseline run or live primary' });
  });

  it('error_rate counts unanswered requests', () => {
    const e = run({ error_rate: '<= 0.01' }, (ev) =>
      times(50, (i) => ev.record(judged({ isAnswered: i >= 2, candidateStatus: i >= 2 ? 200 : undefined, outcome: i >= 2 ? outcome(true) : undefined }))),
    );
    expect(e.results()[0]).toMatchObject({ value: 0.04, isPassing: false });
    expect(run({ error_rate: '<= 0.01' }, (ev) => ev.record(judged())).results()[0]).toMatchObject({ value: 0, isPassing: true });
  });

  it('new_mismatch counts only mismatches the baseline run did not have', () => {
    const e = run({ new_mismatch: '== 0' }, (ev) => {
      ev.record(judged({ outcome: outcome(false), isKnownMismatch: true }));
      ev.record(judged());
    });
    expect(e.results()[0]).toMatchObject({ value: 0, isPassing: true });
    e.record(judged({ outcome: outcome(false) }));
    expect(e.results()[0]).toMatchObject({ value: 1, isPassing: false });
  });

  it('a gate without data fails rather than passing unseen', () => {
    expect(run({ status_pass_rate: '>= 0.99' }, () => {}).results()[0]).toMatchObject({ value: undefined, isPassing: false, note: 'no requests yet' });
  });

  it('keeps per-endpoint statistics', () => {
    const e = run({}, (ev) => {
      ev.record(judged({ endpoint: 'GET /a', candidateMs: 3 }));
      ev.record(judged({ endpoint: 'GET /b', outcome: outcome(false) }));
      ev.record(judged({ endpoint: 'GET /b', isAnswered: false, candidateStatus: undefined, outcome: undefined }));
    });
    const [a, b] = e.endpoints();
    expect(a).toMatchObject({ endpoint: 'GET /a', requests: 1, bodyMatch: 1, mismatches: 0 });
    expect(a!.latency.candidate.p50).toBeCloseTo(3, 1);
    expect(b).toMatchObject({ endpoint: 'GET /b', requests: 2, errors: 1, mismatches: 1, bodyMatch: 0 });
  });

  it('rejects unknown gates and bad expressions with the key named', () => {
    expect(() => createGateEvaluator({ gates: { speed: '> 1', body_match_rate: 'high' }, cutoffs, hasLatencyBaseline: false })).toThrow(DoppelError);
    try {
      createGateEvaluator({ gates: { speed: '> 1', body_match_rate: 'high' }, cutoffs, hasLatencyBaseline: false });
    } catch (err) {
      expect((err as DoppelError).details).toEqual([
        expect.stringMatching(/^quality_gates\.speed: unknown gate/),
        expect.stringMatching(/^quality_gates\.body_match_rate: expected an operator/),
      ]);
    }
  });
});

describe('latency gates need a baseline', () => {
  it('names each latency gate configured without a baseline run or live primary', () => {
    const gates = { body_match_rate: '>= 0.9', latency_p95_delta: '<= +10%', latency_p50_delta: '<= +5%' };
    const problems = checkGatesNeedBaseline(gates, false);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^quality_gates\.latency_p95_delta: a latency gate needs paired baseline durations/);
    expect(checkGatesNeedBaseline(gates, true)).toEqual([]);
    expect(checkGatesNeedBaseline({ body_match_rate: '>= 0.9' }, false)).toEqual([]);
  });
});
