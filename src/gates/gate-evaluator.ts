/**
 * Quality gates and cutoffs over a stream of judged requests. Counters and
 * bounded latency sketches only: memory stays flat however long the run.
 *
 * Gate values:
 *   status_pass_rate   candidate status == baseline status, over all requests
 *   body_match_rate    responses whose comparison matched (noise counts as match), over all requests
 *   field_match_rate   matching fields over compared fields (ignored fields excluded)
 *   mock_match_rate    matched mock calls over all mock calls (passthrough is a miss)
 *   latency_pNN_delta  pNN(candidate) / pNN(baseline) - 1 over paired per-request durations
 *   error_rate         requests the candidate did not answer (connection error, timeout)
 *   new_mismatch       mismatches the baseline run did not have for the same exchange
 */
import { DoppelError } from '../core/errors.js';
import type { CutoffsConfig } from '../config/schema.js';
import { GATE_NAMES, LATENCY_GATES, isGateName, parseGateExpression, type GateExpression, type GateName } from '../config/gate-expression.js';
import { evaluateGate } from './expression.js';
import { EndpointAccumulator, GateAccumulator, type EvaluatorState } from './gate-accumulator.js';
import type { EndpointStats, GateResult, JudgedRequest, LatencySummary, MockCounts, RunCounts, Verdict } from './types.js';

export interface GateEvaluatorOptions {
  /** quality_gates: gate name -> expression */
  gates: Readonly<Record<string, string>>;
  cutoffs: Readonly<CutoffsConfig>;
  /** a live primary or a baseline run supplies paired durations */
  hasLatencyBaseline: boolean;
  /** endpoints tracked one by one; the rest fold into "(other)" */
  maxEndpoints?: number;
}

export interface GateEvaluator {
  record(j: JudgedRequest): void;
  /** adds mock calls seen since the last call */
  addMockCounts(delta: MockCounts): void;
  /** a cumulative reading of the mocks' counters; the first reading is the zero point */
  observeMockCounts(cumulative: MockCounts): void;
  results(): GateResult[];
  /** the reason a cutoff fired (sticky), or undefined */
  cutoff(): string | undefined;
  verdict(): Verdict;
  counts(): RunCounts;
  latency(): LatencySummary;
  endpoints(): EndpointStats[];
  /** counters and sketches of the whole run as plain JSON, for another process to absorb */
  state(): EvaluatorState;
  /** adds another evaluator's state: the sum of N workers' states reads as one run over all their requests */
  absorb(state: EvaluatorState): void;
}

interface CompiledGate {
  name: GateName;
  expr: GateExpression;
}

/** Problems of a quality_gates map, each naming its key. */
export function validateGates(gates: Readonly<Record<string, string>>, prefix = 'quality_gates'): string[] {
  const problems: string[] = [];
  for (const [name, source] of Object.entries(gates)) {
    if (!isGateName(name)) {
      problems.push(`${prefix}.${name}: unknown gate (known: ${GATE_NAMES.join(', ')})`);
      continue;
    }
    const parsed = parseGateExpression(source);
    if ('error' in parsed) problems.push(`${prefix}.${name}: ${parsed.error}`);
  }
  return problems;
}

/** A latency gate needs paired durations: from a live primary or a baseline run (DESIGN.md, Judging). */
export function checkGatesNeedBaseline(gates: Readonly<Record<string, string>>, hasLatencyBaseline: boolean, prefix = 'quality_gates'): string[] {
  if (hasLatencyBaseline) return [];
  return Object.keys(gates)
    .filter((name) => (LATENCY_GATES as readonly string[]).includes(name))
    .map(
      (name) =>
        `${prefix}.${name}: a latency gate needs paired baseline durations from a live primary (shadow) or a baseline run (--baseline DIR); recorded durations from another environment are not comparable`,
    );
}

function compileGates(gates: Readonly<Record<string, string>>): CompiledGate[] {
  const problems = validateGates(gates);
  if (problems.length > 0) throw new DoppelError('DOPPEL_CONFIG_INVALID', `${problems.length} problem${problems.length === 1 ? '' : 's'} in quality gates`, { details: problems });
  return Object.entries(gates).map(([name, source]) => ({ name: name as GateName, expr: parseGateExpression(source) as GateExpression }));
}

const LATENCY_Q: Record<string, number> = { latency_p50_delta: 0.5, latency_p95_delta: 0.95, latency_p99_delta: 0.99 };

function gateValue(acc: GateAccumulator, name: GateName): { value: number | undefined; note?: string } {
  const rate = (num: number, den: number, what: string) => (den === 0 ? { value: undefined, note: `no ${what} yet` } : { value: num / den });
  switch (name) {
    case 'status_pass_rate':
      return rate(acc.statusPass, acc.requests, 'requests');
    case 'body_match_rate':
      return rate(acc.bodyMatch, acc.requests, 'requests');
    case 'field_match_rate':
      return rate(acc.fieldMatch, acc.fieldMatch + acc.fieldMismatch, 'compared fields');
    case 'mock_match_rate':
      return rate(acc.mockMatched, acc.mockTotal, 'mock calls');
    case 'error_rate':
      return rate(acc.errors, acc.requests, 'requests');
    case 'new_mismatch':
      return { value: acc.newMismatches };
    case 'latency_p50_delta':
    case 'latency_p95_delta':
    case 'latency_p99_delta': {
      const q = LATENCY_Q[name] as number;
      const b = acc.pairedBaseline.quantile(q);
      const c = acc.pairedCandidate.quantile(q);
      if (b === undefined || c === undefined) return { value: undefined, note: 'no paired baseline and candidate durations yet' };
      if (b <= 0) return { value: undefined, note: 'baseline durations are zero' };
      return { value: c / b - 1 };
    }
    default: {
      const never: never = name;
      return never;
    }
  }
}

function evaluate(acc: GateAccumulator, gates: readonly CompiledGate[], hasLatencyBaseline: boolean): GateResult[] {
  return gates.map(({ name, expr }) => {
    const { value, note } = gateValue(acc, name);
    const base = { gate: name, expression: expr.source, threshold: expr.threshold };
    if (value !== undefined) return { ...base, value, isPassing: evaluateGate(expr, value) };
    // No mock calls means nothing was missed; every other gate without data fails rather than passing unseen.
    if (name === 'mock_match_rate') return { ...base, value, isPassing: true, note: 'no mock calls observed' };
    const why = (LATENCY_GATES as readonly string[]).includes(name) && !hasLatencyBaseline ? 'no baseline run or live primary' : (note ?? 'no data');
    return { ...base, value, isPassing: false, note: why };
  });
}

function percent(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

function checkCutoffs(acc: GateAccumulator, c: Readonly<CutoffsConfig>): string | undefined {
  if (acc.requests === 0 || acc.requests < c.min_requests) return undefined;
  if (c.max_5xx_rate !== undefined) {
    const r = acc.unexpected5xx / acc.requests;
    if (r > c.max_5xx_rate) {
      return `cutoff max_5xx_rate: the candidate answered 5xx where the baseline did not on ${percent(r)} of ${acc.requests} requests (limit ${percent(c.max_5xx_rate)})`;
    }
  }
  if (c.max_error_rate !== undefined) {
    const r = acc.errors / acc.requests;
    if (r > c.max_error_rate) {
      return `cutoff max_error_rate: the candidate did not answer ${percent(r)} of ${acc.requests} requests (limit ${percent(c.max_error_rate)})`;
    }
  }
  if (c.max_mock_miss_rate !== undefined && acc.mockTotal > 0) {
    const r = (acc.mockUnmatched + acc.mockPassthrough) / acc.mockTotal;
    if (r > c.max_mock_miss_rate) {
      return `cutoff max_mock_miss_rate: mocks found no recording for ${percent(r)} of ${acc.mockTotal} calls (limit ${percent(c.max_mock_miss_rate)})`;
    }
  }
  return undefined;
}

export const OTHER_ENDPOINTS = '(other)';

function verdictOf(cutoff: string | undefined, results: readonly GateResult[]): Verdict {
  if (cutoff !== undefined) return 'aborted';
  return results.every((r) => r.isPassing) ? 'pass' : 'fail';
}

/** Mock counter readings turned into deltas against the first reading. */
function createMockReadings(add: (delta: MockCounts) => void): (cumulative: MockCounts) => void {
  let last: MockCounts | undefined;
  return (now) => {
    if (last !== undefined) {
      // A restarted mock resets its counters: count what it has seen since.
      const d = (a: number, b: number) => (a >= b ? a - b : a);
      add({ matched: d(now.matched, last.matched), unmatched: d(now.unmatched, last.unmatched), passthrough: d(now.passthrough, last.passthrough) });
    }
    last = { ...now };
  };
}

export function createGateEvaluator(opts: GateEvaluatorOptions): GateEvaluator {
  const gates = compileGates(opts.gates);
  const acc = new GateAccumulator();
  const perEndpoint = new Map<string, EndpointAccumulator>();
  const maxEndpoints = opts.maxEndpoints ?? 500;
  let fired: string | undefined;
  const addMock = (delta: MockCounts) => acc.addMock(delta);
  const observeMock = createMockReadings(addMock);

  const cutoff = () => {
    fired ??= checkCutoffs(acc, opts.cutoffs);
    return fired;
  };

  return {
    record(j) {
      acc.record(j);
      let ep = perEndpoint.get(j.endpoint);
      if (ep === undefined) {
        const key = perEndpoint.size < maxEndpoints ? j.endpoint : OTHER_ENDPOINTS;
        ep = perEndpoint.get(key);
        if (ep === undefined) {
          ep = new EndpointAccumulator();
          perEndpoint.set(key, ep);
        }
      }
      ep.record(j);
    },
    addMockCounts: addMock,
    observeMockCounts: observeMock,
    results: () => evaluate(acc, gates, opts.hasLatencyBaseline),
    cutoff,
    verdict() {
      return verdictOf(cutoff(), evaluate(acc, gates, opts.hasLatencyBaseline));
    },
    counts: () => acc.counts(),
    latency: () => acc.latency(),
    endpoints: () => [...perEndpoint.entries()].map(([name, e]) => e.stats(name)).sort((a, b) => a.endpoint.localeCompare(b.endpoint)),
    state: () => ({
      run: acc.state(),
      endpoints: [...perEndpoint.entries()].map(([name, e]) => [name, e.state()]),
    }),
    absorb(state) {
      acc.absorb(state.run);
      for (const [name, es] of state.endpoints) {
        const key = perEndpoint.has(name) || perEndpoint.size < maxEndpoints ? name : OTHER_ENDPOINTS;
        let ep = perEndpoint.get(key);
        if (ep === undefined) {
          ep = new EndpointAccumulator();
          perEndpoint.set(key, ep);
        }
        ep.absorb(es);
      }
    },
  };
}

export interface WindowedGateEvaluatorOptions extends GateEvaluatorOptions {
  windowMs: number;
  /** width of one time bucket; the window slides by this much. Default: windowMs / 30, at least 1 s. */
  bucketMs?: number;
  /** milliseconds since the epoch */
  now?: () => number;
}

/**
 * The same readings over the requests of the last windowMs; its cutoff is not
 * sticky (the window moves on), and it keeps no per-endpoint stats.
 */
export type WindowedGateEvaluator = Omit<GateEvaluator, 'endpoints' | 'state' | 'absorb'>;

/**
 * Gates over a sliding window (shadow mode): a ring of time buckets, each an
 * accumulator; reading merges the buckets still inside the window.
 */
export function createWindowedGateEvaluator(opts: WindowedGateEvaluatorOptions): WindowedGateEvaluator {
  const gates = compileGates(opts.gates);
  const now = opts.now ?? Date.now;
  const bucketMs = Math.max(1, opts.bucketMs ?? Math.max(1000, Math.floor(opts.windowMs / 30)));
  const slots = Math.max(1, Math.ceil(opts.windowMs / bucketMs));
  const ring: Array<{ bucket: number; acc: GateAccumulator }> = Array.from({ length: slots }, () => ({ bucket: -1, acc: new GateAccumulator() }));

  const current = (): GateAccumulator => {
    const bucket = Math.floor(now() / bucketMs);
    const slot = ring[bucket % slots] as { bucket: number; acc: GateAccumulator };
    if (slot.bucket !== bucket) {
      slot.acc.reset();
      slot.bucket = bucket;
    }
    return slot.acc;
  };
  const windowed = (): GateAccumulator => {
    const newest = Math.floor(now() / bucketMs);
    const merged = new GateAccumulator();
    for (const slot of ring) if (slot.bucket > newest - slots && slot.bucket <= newest) merged.merge(slot.acc);
    return merged;
  };
  const addMock = (delta: MockCounts) => current().addMock(delta);

  return {
    record: (j) => current().record(j),
    addMockCounts: addMock,
    observeMockCounts: createMockReadings(addMock),
    results: () => evaluate(windowed(), gates, opts.hasLatencyBaseline),
    cutoff: () => checkCutoffs(windowed(), opts.cutoffs),
    verdict() {
      const acc = windowed();
      return verdictOf(checkCutoffs(acc, opts.cutoffs), evaluate(acc, gates, opts.hasLatencyBaseline));
    },
    counts: () => windowed().counts(),
    latency: () => windowed().latency(),
  };
}
