import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Every metric of DESIGN.md's table (and the few added beside it), registered on a registry passed in (never
 * prom-client's global one), so one scrape in any mode shows the whole schema.
 * Names and labels here are a public contract: dashboards and alert rules use them.
 */
export interface Metrics {
  readonly registry: Registry;
  /** hot-path counts kept as plain numbers until the registry is read (see CounterTallies) */
  readonly tallies: CounterTallies;
  readonly exchangesRecorded: Counter<'service' | 'direction' | 'protocol'>;
  readonly recordDropped: Counter<'reason'>;
  readonly exchangesTruncated: Counter<'service'>;
  readonly storeCorruptLines: Counter;
  readonly redactions: Counter<'kind'>;
  readonly mockRequests: Counter<'service' | 'protocol' | 'result'>;
  readonly replayRequests: Counter<'run_id' | 'endpoint' | 'result'>;
  readonly compare: Counter<'run_id' | 'mode' | 'endpoint' | 'result'>;
  readonly compareFields: Counter<'run_id' | 'result'>;
  readonly responseDuration: Histogram<'run_id' | 'side' | 'endpoint'>;
  readonly shadowDropped: Counter<'reason'>;
  readonly httpBadRequests: Counter<'service' | 'reason'>;
  readonly bodyDecodeFailures: Counter<'stage' | 'reason'>;
  readonly upstreamFailures: Counter<'service' | 'reason'>;
  readonly gateValue: Gauge<'run_id' | 'gate'>;
  readonly gateThreshold: Gauge<'run_id' | 'gate'>;
  readonly gatePassing: Gauge<'run_id' | 'gate'>;
}

export const RESPONSE_DURATION_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const;

/**
 * One label set's increments, kept as a plain number: a prom-client child hashes its label values
 * into a new string on every inc(), which at several counters per judged request was a kilobyte
 * of garbage a request. The sum reaches the child when the registry reads the counter.
 */
export class CounterTally {
  n = 0;
  readonly #child: Counter.Internal;

  constructor(child: Counter.Internal) {
    this.#child = child;
  }

  flush(): void {
    if (this.n === 0) return;
    this.#child.inc(this.n);
    this.n = 0;
  }
}

/**
 * The tallies of every counter made here, by counter: reading a counter (a scrape, `get()`,
 * `getMetricsAsJSON()`) adds its own tallies in first, through the `collect` hook each counter has.
 */
export class CounterTallies {
  readonly #byCounter = new Map<object, CounterTally[]>();

  /** A tally for one label set of `counter`, the hot-path stand-in for `counter.labels(labels).inc()`. */
  of<T extends string>(counter: Counter<T>, labels: Partial<Record<T, string | number>>): CounterTally {
    const t = new CounterTally(counter.labels(labels));
    const list = this.#byCounter.get(counter);
    if (list === undefined) this.#byCounter.set(counter, [t]);
    else list.push(t);
    return t;
  }

  flush(counter: object): void {
    const list = this.#byCounter.get(counter);
    if (list !== undefined) for (const t of list) t.flush();
  }
}

export function createMetrics(registry: Registry = new Registry()): Metrics {
  const registers = [registry];
  const tallies = new CounterTallies();
  // Every counter: a tally taken on any of them is added in whenever that counter is read.
  const collect = function (this: Counter) {
    tallies.flush(this);
  };
  return {
    registry,
    tallies,
    exchangesRecorded: new Counter({
      name: 'doppel_exchanges_recorded_total',
      help: 'Exchanges written to the traffic store.',
      labelNames: ['service', 'direction', 'protocol'] as const,
      registers,
      collect,
    }),
    recordDropped: new Counter({
      name: 'doppel_record_dropped_total',
      help: 'Exchanges not recorded, by reason (queue_full, quota, sampled_out, filtered, paused, store_error, spool_full).',
      labelNames: ['reason'] as const,
      registers,
      collect,
    }),
    exchangesTruncated: new Counter({
      name: 'doppel_exchanges_truncated_total',
      help: 'Exchanges recorded with a body cut at the configured cap.',
      labelNames: ['service'] as const,
      registers,
      collect,
    }),
    storeCorruptLines: new Counter({
      name: 'doppel_store_corrupt_lines_total',
      help: 'Traffic store lines skipped because they could not be decoded (including cut-off tails).',
      registers,
      collect,
    }),
    redactions: new Counter({
      name: 'doppel_redactions_total',
      help: 'Secrets replaced by placeholders at capture time, by kind.',
      labelNames: ['kind'] as const,
      registers,
      collect,
    }),
    mockRequests: new Counter({
      name: 'doppel_mock_requests_total',
      help: 'Requests answered by dependency mocks, by result (matched, unmatched, passthrough).',
      labelNames: ['service', 'protocol', 'result'] as const,
      registers,
      collect,
    }),
    replayRequests: new Counter({
      name: 'doppel_replay_requests_total',
      help: 'Requests sent by replay, by result (pass, fail, error).',
      labelNames: ['run_id', 'endpoint', 'result'] as const,
      registers,
      collect,
    }),
    compare: new Counter({
      name: 'doppel_compare_total',
      help: 'Candidate responses compared with the baseline, by mode and result (match, mismatch, noise).',
      labelNames: ['run_id', 'mode', 'endpoint', 'result'] as const,
      registers,
      collect,
    }),
    compareFields: new Counter({
      name: 'doppel_compare_fields_total',
      help: 'Fields compared, by result (match, mismatch, ignored).',
      labelNames: ['run_id', 'result'] as const,
      registers,
      collect,
    }),
    responseDuration: new Histogram({
      name: 'doppel_response_duration_seconds',
      help: 'Response durations of the baseline and the candidate.',
      labelNames: ['run_id', 'side', 'endpoint'] as const,
      buckets: [...RESPONSE_DURATION_BUCKETS],
      registers,
    }),
    shadowDropped: new Counter({
      name: 'doppel_shadow_dropped_total',
      help: 'Shadow copies not sent or not judged, by reason.',
      labelNames: ['reason'] as const,
      registers,
      collect,
    }),
    httpBadRequests: new Counter({
      name: 'doppel_http_bad_requests_total',
      help: 'Requests refused as malformed by a record or shadow listener, by reason (malformed_head, malformed_framing, too_large, unsupported_transfer_coding, timeout, too_many_connections: closed on arrival over max_connections).',
      labelNames: ['service', 'reason'] as const,
      registers,
      collect,
    }),
    bodyDecodeFailures: new Counter({
      name: 'doppel_body_decode_failures_total',
      help: 'Bodies whose Content-Encoding was not undone and were read as the bytes received, by stage (compare, mock, record) and reason (over_limit: cut at compare.max_body_bytes, e.g. a decompression bomb; corrupt; unknown_coding).',
      labelNames: ['stage', 'reason'] as const,
      registers,
      collect,
    }),
    upstreamFailures: new Counter({
      name: 'doppel_upstream_failures_total',
      help: 'Calls to a peer doppel forwards to (record upstream, HTTP dependency targets, HTTP and Postgres mock passthrough targets, the Postgres server of the record relay) that failed, by service and reason (refused, timeout, reset, malformed, too_large, other).',
      labelNames: ['service', 'reason'] as const,
      registers,
      collect,
    }),
    gateValue: new Gauge({
      name: 'doppel_gate_value',
      help: 'Current value of each quality gate.',
      labelNames: ['run_id', 'gate'] as const,
      registers,
    }),
    gateThreshold: new Gauge({
      name: 'doppel_gate_threshold',
      help: 'Threshold of each quality gate.',
      labelNames: ['run_id', 'gate'] as const,
      registers,
    }),
    gatePassing: new Gauge({
      name: 'doppel_gate_passing',
      help: '1 when the quality gate passes, 0 when it fails.',
      labelNames: ['run_id', 'gate'] as const,
      registers,
    }),
  };
}
