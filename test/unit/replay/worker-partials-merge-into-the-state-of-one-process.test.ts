import { describe, expect, it } from 'vitest';
import { createNoiseLearner } from '../../../src/compare/noise.js';
import { createGateEvaluator } from '../../../src/gates/gate-evaluator.js';
import { createLatencySketch } from '../../../src/gates/latency-sketch.js';
import { judged, outcome } from '../../helpers/gates-fixtures.js';

const GATES = { status_pass_rate: '>= 0.99', body_match_rate: '>= 0.9', field_match_rate: '>= 0.95', latency_p95_delta: '<= +10%' };
const CUTOFFS = { min_requests: 10 };

/** A deterministic spread of judged requests: several endpoints, errors, mismatches, durations over four decades. */
function requests(n: number) {
  return Array.from({ length: n }, (_, i) =>
    judged({
      endpoint: `GET /e${i % 5}`,
      isAnswered: i % 41 !== 0,
      candidateStatus: i % 41 === 0 ? undefined : i % 23 === 0 ? 500 : 200,
      outcome: i % 41 === 0 ? undefined : outcome(i % 7 !== 0),
      candidateMs: 0.3 + ((i * 7919) % 5000) / 10,
      baselineMs: 0.2 + ((i * 104729) % 4000) / 10,
    }),
  );
}

describe('worker partials merge into the state of one process', () => {
  it('latency sketches rebuilt from JSON state add up to the sketch of all values, bucket for bucket', () => {
    const all = createLatencySketch();
    const parts = [createLatencySketch(), createLatencySketch(), createLatencySketch()];
    for (let i = 0; i < 3000; i++) {
      const ms = 0.01 + ((i * 7919) % 100_000) / 37;
      all.add(ms);
      parts[i % 3]!.add(ms);
    }
    const merged = createLatencySketch();
    for (const p of parts) merged.absorb(JSON.parse(JSON.stringify(p.state())));
    expect(merged.state()).toEqual(all.state());
    expect(merged.quantiles([0, 0.5, 0.95, 0.99, 1])).toEqual(all.quantiles([0, 0.5, 0.95, 0.99, 1]));
  });

  it('evaluator states of three workers absorb into the counts, latency, endpoints and gates of one evaluator over all requests', () => {
    const reqs = requests(2000);
    const one = createGateEvaluator({ gates: GATES, cutoffs: CUTOFFS, hasLatencyBaseline: true });
    for (const r of reqs) one.record(r);
    const workers = [0, 1, 2].map(() => createGateEvaluator({ gates: GATES, cutoffs: CUTOFFS, hasLatencyBaseline: true }));
    // each worker sees its share in its own order
    reqs.forEach((r, i) => workers[(i * 31) % 3]!.record(r));
    const merged = createGateEvaluator({ gates: GATES, cutoffs: CUTOFFS, hasLatencyBaseline: true });
    for (const w of workers) merged.absorb(JSON.parse(JSON.stringify(w.state())));
    expect(merged.counts()).toEqual(one.counts());
    expect(merged.latency()).toEqual(one.latency());
    expect(merged.endpoints()).toEqual(one.endpoints());
    expect(merged.results()).toEqual(one.results());
  });

  it('noise evidence of several learners sums, and decisions are taken again over the sums', () => {
    const diff = (path: string) => ({ isMatch: false, isStatusMatch: true, isBodyMatch: false, fields: { match: 1, mismatch: 1, ignored: 0 }, diffs: [{ path, kind: 'changed' as const, expected: 1, actual: 2 }], flags: [] });
    const learner = () => createNoiseLearner({ samplesPerEndpoint: 100, confidence: 0.95 });
    const one = learner();
    const parts = [learner(), learner()];
    for (let i = 0; i < 40; i++) {
      const self = i % 2 === 0 ? diff('$.requestId') : outcome(true);
      one.observe('GET /a', self);
      parts[i % 2]!.observe('GET /a', self);
    }
    const merged = createNoiseLearner({ samplesPerEndpoint: 0, confidence: 0.95 });
    for (const p of parts) merged.absorb(JSON.parse(JSON.stringify(p.evidence())));
    const strip = (l: ReturnType<typeof one.learned>) => l.map(({ samples: _s, ...rest }) => rest);
    expect(strip(merged.learned())).toEqual(strip(one.learned()));
    expect(merged.learned()[0]).toMatchObject({ path: '$.requestId', selfSamples: 40, selfMismatches: 20, decision: 'noise' });
  });
});
