/**
 * The judge's side of the metric contract: comparison and field counters,
 * response durations per side, replay results and gate gauges. Endpoint
 * labels are route templates (see metrics/route-template.ts) so cardinality
 * stays bounded; label children are cached per endpoint.
 */
import { RESPONSE_DURATION_BUCKETS, type CounterTally, type HistogramTally, type Metrics } from '../metrics/metrics.js';
import { endpointLabel } from '../metrics/route-template.js';
import { undecodedReasonOf, type FieldCounts } from '../compare/types.js';
import type { GateResult, RunMode } from './types.js';

export type CompareResult = 'match' | 'mismatch' | 'noise';
export type ReplayRequestResult = 'pass' | 'fail' | 'error';

export interface RunMetrics {
  /**
   * One comparison: doppel_compare_total and doppel_compare_fields_total; its flags count
   * bodies whose Content-Encoding stayed undecoded (doppel_body_decode_failures_total{stage="compare"}).
   */
  recordComparison(endpoint: string, result: CompareResult, fields: FieldCounts, flags?: readonly string[]): void;
  /** doppel_response_duration_seconds{side}; either duration may be unknown */
  recordDurations(endpoint: string, candidateMs: number | undefined, baselineMs: number | undefined): void;
  /** doppel_replay_requests_total{result} */
  recordReplayResult(endpoint: string, result: ReplayRequestResult): void;
  exportGates(results: readonly GateResult[]): void;
}

interface EndpointChildren {
  compare: Record<CompareResult, CounterTally>;
  candidate: HistogramTally;
  baseline: HistogramTally;
  replay: Record<ReplayRequestResult, CounterTally>;
}

export function createRunMetrics(metrics: Metrics, runId: string, mode: RunMode): RunMetrics {
  const children = new Map<string, EndpointChildren>();
  const { tallies } = metrics;
  const fieldMatch = tallies.of(metrics.compareFields, { run_id: runId, result: 'match' });
  const fieldMismatch = tallies.of(metrics.compareFields, { run_id: runId, result: 'mismatch' });
  const fieldIgnored = tallies.of(metrics.compareFields, { run_id: runId, result: 'ignored' });

  // The label as passed -> its children, so the usual caller (already a template) skips templating.
  const byPassed = new Map<string, EndpointChildren>();
  const forEndpoint = (raw: string): EndpointChildren => {
    const known = byPassed.get(raw);
    if (known !== undefined) return known;
    // Callers pass route templates; a raw "GET /orders/42" is folded too, so neither the label set
    // nor the children cache grows with the ids in the traffic (the by-passed cache is cleared when large).
    const endpoint = toEndpointLabel(raw);
    let c = children.get(endpoint);
    if (c === undefined) {
      const cmp = (result: CompareResult) => tallies.of(metrics.compare, { run_id: runId, mode, endpoint, result });
      const rep = (result: ReplayRequestResult) => tallies.of(metrics.replayRequests, { run_id: runId, endpoint, result });
      c = {
        compare: { match: cmp('match'), mismatch: cmp('mismatch'), noise: cmp('noise') },
        candidate: tallies.histogram(metrics.responseDuration, RESPONSE_DURATION_BUCKETS, { run_id: runId, side: 'candidate', endpoint }),
        baseline: tallies.histogram(metrics.responseDuration, RESPONSE_DURATION_BUCKETS, { run_id: runId, side: 'baseline', endpoint }),
        replay: { pass: rep('pass'), fail: rep('fail'), error: rep('error') },
      };
      children.set(endpoint, c);
    }
    if (byPassed.size >= 10_000) byPassed.clear();
    byPassed.set(raw, c);
    return c;
  };

  return {
    recordComparison(endpoint, result, fields, flags) {
      forEndpoint(endpoint).compare[result].n++;
      if (flags !== undefined && flags.length > 0) {
        for (const f of flags) {
          const reason = undecodedReasonOf(f);
          if (reason !== undefined) metrics.bodyDecodeFailures.inc({ stage: 'compare', reason });
        }
      }
      fieldMatch.n += fields.match;
      fieldMismatch.n += fields.mismatch;
      fieldIgnored.n += fields.ignored;
    },
    recordDurations(endpoint, candidateMs, baselineMs) {
      const c = forEndpoint(endpoint);
      if (candidateMs !== undefined) c.candidate.observe(candidateMs / 1000);
      if (baselineMs !== undefined) c.baseline.observe(baselineMs / 1000);
    },
    recordReplayResult(endpoint, result) {
      forEndpoint(endpoint).replay[result].n++;
    },
    exportGates(results) {
      exportGates(metrics, runId, results);
    },
  };
}

/** "GET /orders/42?x=1" -> "GET /orders/:id"; a label without a method is templated as a path. */
export function toEndpointLabel(endpoint: string): string {
  const space = endpoint.indexOf(' ');
  if (space === -1) return endpointLabel('', endpoint).trimStart();
  return endpointLabel(endpoint.slice(0, space), endpoint.slice(space + 1));
}

/** Sets doppel_gate_value / _threshold / _passing for each gate of a run. */
export function exportGates(metrics: Metrics, runId: string, results: readonly GateResult[]): void {
  for (const r of results) {
    const labels = { run_id: runId, gate: r.gate };
    if (r.value === undefined) metrics.gateValue.remove(labels);
    else metrics.gateValue.set(labels, r.value);
    metrics.gateThreshold.set(labels, r.threshold);
    metrics.gatePassing.set(labels, r.isPassing ? 1 : 0);
  }
}
