import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Every metric of DESIGN.md's table (and the few added beside it), registered on a registry passed in (never
 * prom-client's global one), so one scrape in any mode shows the whole schema.
 * Names and labels here are a public contract: dashboards and alert rules use them.
 */
export interface Metrics {
  readonly registry: Registry;
  /** hot-path counts kept as plain numbers until the registry is read (see MetricTallies) */
  readonly tallies: MetricTallies;
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

/** What prom-client keeps for one label set of a histogram (lib/histogram.js createBaseValues). */
interface HistogramRecord {
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
}

/**
 * One label set's observations, kept as plain bucket counts: a prom-client histogram child builds
 * a labels object, validates it and hashes it into a new string on every observe(), which at two
 * observations per judged request cost the judge a quarter of its time. The counts reach the
 * histogram's own record for the label set when the registry reads it.
 */
export class HistogramTally {
  readonly #bounds: readonly number[];
  /** per upper bound; the last slot holds what is over every bound (only in +Inf) */
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;
  readonly #histogram: Histogram<string>;
  readonly #labels: Record<string, string | number>;
  #key: string | undefined;

  constructor(histogram: Histogram<string>, bounds: readonly number[], labels: Record<string, string | number>) {
    this.#histogram = histogram;
    this.#bounds = bounds;
    this.#counts = new Float64Array(bounds.length + 1);
    this.#labels = labels;
  }

  observe(value: number): void {
    // prom-client refuses a value that is not finite; a duration never is one
    if (!Number.isFinite(value)) return;
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    this.#counts[i] = (this.#counts[i] as number) + 1;
    this.#sum += value;
    this.#count++;
  }

  flush(): void {
    if (this.#count === 0) return;
    const record = this.#record();
    const bounds = this.#bounds;
    for (let i = 0; i < bounds.length; i++) record.bucketValues[bounds[i] as number] = (record.bucketValues[bounds[i] as number] ?? 0) + (this.#counts[i] as number);
    record.sum += this.#sum;
    record.count += this.#count;
    this.#counts.fill(0);
    this.#sum = 0;
    this.#count = 0;
  }

  /**
   * The histogram's record for this label set, made with its public zero() when missing (first
   * flush, or after reset()). prom-client keys records by a hash of the label values it does not
   * export: the key is found once by the labels the record holds.
   */
  #record(): HistogramRecord {
    const map = (this.#histogram as unknown as { hashMap: Record<string, HistogramRecord & { labels: Record<string, unknown> }> }).hashMap;
    const known = this.#key === undefined ? undefined : map[this.#key];
    if (known !== undefined) return known;
    const find = (): string | undefined => {
      const names = Object.keys(this.#labels);
      for (const [key, r] of Object.entries(map)) if (names.length === Object.keys(r.labels).length && names.every((n) => r.labels[n] === this.#labels[n])) return key;
      return undefined;
    };
    let key = find();
    if (key === undefined) {
      this.#histogram.zero(this.#labels);
      key = find();
    }
    if (key === undefined) throw new Error(`${String((this.#histogram as unknown as { name: string }).name)}: no record for ${JSON.stringify(this.#labels)} after zero()`);
    this.#key = key;
    return map[key] as HistogramRecord;
  }
}

/**
 * The tallies of every counter and histogram made here, by metric: reading a metric (a scrape,
 * `get()`, `getMetricsAsJSON()`) adds its own tallies in first, through the `collect` hook each has.
 */
export class MetricTallies {
  readonly #byMetric = new Map<object, Array<{ flush(): void }>>();

  /** A tally for one label set of `counter`, the hot-path stand-in for `counter.labels(labels).inc()`. */
  of<T extends string>(counter: Counter<T>, labels: Partial<Record<T, string | number>>): CounterTally {
    return this.#add(counter, new CounterTally(counter.labels(labels)));
  }

  /** A tally for one label set of `histogram` (made with `bounds` as its buckets): the stand-in for `labels(labels).observe()`. */
  histogram<T extends string>(histogram: Histogram<T>, bounds: readonly number[], labels: Record<T, string | number>): HistogramTally {
    return this.#add(histogram, new HistogramTally(histogram as unknown as Histogram<string>, bounds, labels));
  }

  #add<K extends { flush(): void }>(metric: object, t: K): K {
    const list = this.#byMetric.get(metric);
    if (list === undefined) this.#byMetric.set(metric, [t]);
    else list.push(t);
    return t;
  }

  flush(metric: object): void {
    const list = this.#byMetric.get(metric);
    if (list !== undefined) for (const t of list) t.flush();
  }
}

export function createMetrics(registry: Registry = new Registry()): Metrics {
  const registers = [registry];
  const tallies = new MetricTallies();
  // Every counter and the histogram: a tally taken on any of them is added in whenever that metric is read.
  const collect = function (this: object) {
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
      collect,
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
