import { CDF_QUANTILES } from '../../src/gates/gate-accumulator.js';
import type { Percentiles } from '../../src/gates/types.js';
import type { RunReport } from '../../src/report/types.js';

/** Exact quantiles of `values` at the report's CDF points (nearest rank, as the sketch reads them). */
function cdfOf(values: readonly number[]): Array<[number, number]> {
  const sorted = [...values].sort((a, b) => a - b);
  return CDF_QUANTILES.map((q) => [q, sorted[Math.floor(q * (sorted.length - 1))] as number]);
}

const p = (count: number, p50?: number, p95?: number, p99?: number, durations?: readonly number[]): Percentiles => ({
  count,
  p50,
  p95,
  p99,
  ...(durations === undefined ? {} : { cdf: cdfOf(durations) }),
});

/** A failing run with user data that needs escaping everywhere. */
export function sampleRun(overrides: Partial<RunReport> = {}): RunReport {
  return {
    v: 1,
    runId: 'run-<1>&"x"',
    mode: 'replay',
    startedAt: '2026-11-26T13:00:00.000Z',
    finishedAt: '2026-11-26T13:00:42.500Z',
    verdict: 'fail',
    baseline: 'recorded responses',
    target: 'http://127.0.0.1:8080',
    gates: [
      { gate: 'status_pass_rate', expression: '>= 0.99', threshold: 0.99, value: 1, isPassing: true },
      { gate: 'body_match_rate', expression: '>= 0.95', threshold: 0.95, value: 0.8, isPassing: false },
    ],
    counts: {
      requests: 10,
      answered: 10,
      errors: 0,
      statusPass: 10,
      bodyMatch: 8,
      mismatches: 2,
      noise: 1,
      newMismatches: 2,
      unexpected5xx: 0,
      fields: { match: 90, mismatch: 2, ignored: 5 },
      mock: { matched: 4, unmatched: 0, passthrough: 0 },
    },
    latency: {
      baseline: p(10, 5, 9, 10, [3, 4, 4, 5, 5, 5, 6, 7, 9, 10]),
      candidate: p(10, 6, 11, 12, [4, 5, 5, 6, 6, 6, 8, 9, 11, 12]),
      paired: { baseline: p(0), candidate: p(0) },
    },
    endpoints: [
      {
        endpoint: 'GET /orders/:id',
        requests: 6,
        errors: 0,
        statusPass: 6,
        bodyMatch: 4,
        mismatches: 2,
        noise: 1,
        newMismatches: 2,
        fields: { match: 50, mismatch: 2, ignored: 3 },
        latency: { baseline: p(6, 5, 9, 9, [4, 5, 5, 6, 9, 9]), candidate: p(6, 6, 11, 11, [5, 6, 6, 8, 11, 11]) },
      },
      {
        endpoint: 'GET /search?q=<script>',
        requests: 4,
        errors: 0,
        statusPass: 4,
        bodyMatch: 4,
        mismatches: 0,
        noise: 0,
        newMismatches: 0,
        fields: { match: 40, mismatch: 0, ignored: 2 },
        latency: { baseline: p(4, 5, 9, 9, [3, 4, 5, 9]), candidate: p(4, 6, 11, 11, [4, 6, 6, 11]) },
      },
    ],
    noise: [
      {
        endpoint: 'GET /orders/:id',
        path: '$.servedBy',
        selfSamples: 10,
        selfMismatches: 4,
        selfRate: 0.4,
        candidateSamples: 10,
        candidateMismatches: 3,
        candidateRate: 0.3,
        decision: 'noise',
        samples: [{ expected: 'node-a', actual: 'node-b' }],
      },
    ],
    topDiffs: [
      { endpoint: 'GET /orders/:id', path: '$.total', kind: 'changed', count: 2, example: { exchangeId: 'ex-1', expected: 10, actual: '<b>11</b>' } },
    ],
    samples: [
      {
        exchangeId: 'ex-1',
        endpoint: 'GET /orders/:id',
        baselineStatus: 200,
        candidateStatus: 200,
        diffs: [
          { path: '$.total', kind: 'changed', expected: 10, actual: '<b>11</b>' },
          { path: '$.note', kind: 'extra', actual: '</pre><img src=x onerror=alert(1)>' },
        ],
        baselineBody: JSON.stringify({ id: 1, total: 10, items: [{ sku: 'a' }] }),
        candidateBody: JSON.stringify({ id: 1, total: '<b>11</b>', items: [{ sku: 'a' }], note: '</pre><img src=x onerror=alert(1)>' }),
      },
    ],
    ...overrides,
  };
}
