/**
 * Prometheus alerting rules for a gates file (`doppel rules --gates FILE`).
 *
 * One alert per gate on doppel_gate_passing == 0, with the gate's current
 * value in the description through a query template. Where the metric
 * contract allows, a replica-wide alert recomputes the gate from counter
 * ratios summed over every doppel process, so a fleet of shadow replicas
 * alerts on the whole traffic. Never ratios of histogram quantiles: those do
 * not aggregate (DESIGN.md, Admin API and metrics).
 *
 * A distributed run's workers each export their own series, labelled
 * `worker` (and, scraped as separate targets, `instance` and the like). The
 * run's figures are sums over those: recording rules sum the counters' rates
 * and the histogram buckets by `run_id` (`sum by`, not `sum without (worker)`,
 * which would keep each target's `instance` apart) before any ratio or
 * quantile is taken, and the per-run alerts read them.
 */
import { stringify } from 'yaml';
import type { GatesFile } from '../config/schema.js';
import { isGateName, parseGateExpression, type GateExpression, type GateOperator } from '../config/gate-expression.js';

export interface PrometheusRulesOptions {
  /** rate() window of the counter-ratio rules */
  window?: string;
  /** how long a condition holds before the alert fires */
  for?: string;
  /** share of shadow copies dropped (of copies judged plus dropped) that alerts */
  maxShadowDropRatio?: number;
}

export interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface RecordingRule {
  record: string;
  expr: string;
}

export interface RuleGroup {
  name: string;
  rules: Array<AlertRule | RecordingRule>;
}

/** Latency quantiles recorded per run and side, from buckets summed over workers and endpoints. */
const RECORDED_QUANTILES = [0.5, 0.95, 0.99];

/** Per-run counter sums over workers, the gates they recompute, and the run's latency quantiles. */
function runAggregates(w: string): { rules: RecordingRule[]; ratio: (gate: string) => { record: string; what: string } | undefined } {
  const rate = (metric: string, by: string) => ({ record: `run:${metric}:rate${w}`, expr: `sum by (${by}) (rate(${metric}[${w}]))` });
  const compare = rate('doppel_compare_total', 'run_id, mode, result');
  const fields = rate('doppel_compare_fields_total', 'run_id, result');
  const replay = rate('doppel_replay_requests_total', 'run_id, result');
  const buckets = rate('doppel_response_duration_seconds_bucket', 'run_id, side, le');
  const ratios: Record<string, { record: string; expr: string; what: string }> = {
    body_match_rate: {
      record: `run:doppel_body_match_rate:ratio_rate${w}`,
      // noise counts as a match, as in the gate
      expr: `1 - sum by (run_id) (${compare.record}{result="mismatch"}) / sum by (run_id) (${compare.record})`,
      what: 'share of compared responses that match',
    },
    field_match_rate: {
      record: `run:doppel_field_match_rate:ratio_rate${w}`,
      expr: `sum by (run_id) (${fields.record}{result="match"}) / sum by (run_id) (${fields.record}{result=~"match|mismatch"})`,
      what: 'share of compared fields that match',
    },
    error_rate: {
      record: `run:doppel_error_rate:ratio_rate${w}`,
      expr: `sum by (run_id) (${replay.record}{result="error"}) / sum by (run_id) (${replay.record})`,
      what: 'share of replayed requests the candidate did not answer',
    },
  };
  const quantiles = RECORDED_QUANTILES.map((q) => ({
    record: `run:doppel_response_duration_seconds:p${Math.round(q * 100)}_${w}`,
    expr: `histogram_quantile(${q}, ${buckets.record})`,
  }));
  return {
    rules: [compare, fields, replay, buckets, ...Object.values(ratios).map(({ record, expr }) => ({ record, expr })), ...quantiles],
    ratio: (gate) => ratios[gate],
  };
}

/** PromQL operator that is true when the gate does NOT hold. */
const NEGATED: Record<GateOperator, string> = { '>=': '<', '>': '<=', '<=': '>', '<': '>=', '==': '!=', '!=': '==' };

function pascal(name: string): string {
  return name
    .split(/[_\s]+/)
    .map((w) => (w ? w[0]!.toUpperCase() + w.slice(1) : ''))
    .join('');
}

/** PromQL float literal for a threshold. */
function num(x: number): string {
  return Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(12)));
}

/** Counter ratios that recompute a gate replica-wide: [good or bad numerator, denominator], as PromQL. */
function ratioFor(gate: string, w: string): { expr: string; what: string } | undefined {
  const sumRate = (sel: string) => `sum(rate(${sel}[${w}]))`;
  switch (gate) {
    case 'body_match_rate':
      // noise counts as a match, as in the gate
      return {
        expr: `(1 - ${sumRate('doppel_compare_total{result="mismatch"}')} / ${sumRate('doppel_compare_total')})`,
        what: 'share of compared responses that match, over all doppel processes',
      };
    case 'field_match_rate':
      return {
        expr: `(${sumRate('doppel_compare_fields_total{result="match"}')} / ${sumRate('doppel_compare_fields_total{result=~"match|mismatch"}')})`,
        what: 'share of compared fields that match, over all doppel processes',
      };
    case 'mock_match_rate':
      return {
        expr: `(${sumRate('doppel_mock_requests_total{result="matched"}')} / ${sumRate('doppel_mock_requests_total')})`,
        what: 'share of mock calls answered from recordings, over all doppel processes',
      };
    case 'error_rate':
      return {
        expr: `(${sumRate('doppel_replay_requests_total{result="error"}')} / ${sumRate('doppel_replay_requests_total')})`,
        what: 'share of replayed requests the candidate did not answer, over all doppel processes',
      };
    default:
      return undefined;
  }
}

function valueQuery(gate: string): string {
  // Go template run by Prometheus when the alert fires: looks up the gate's current value for the same run.
  // Rates and relative deltas read best as percentages; new_mismatch is a count.
  const format = gate === 'new_mismatch' ? 'printf "%.0f"' : 'humanizePercentage';
  return `{{ with printf "doppel_gate_value{run_id='%s',gate='${gate}'}" $labels.run_id | query }}{{ . | first | value | ${format} }}{{ else }}unknown{{ end }}`;
}

export function buildPrometheusRules(file: Readonly<GatesFile>, opts: PrometheusRulesOptions = {}): RuleGroup[] {
  const w = opts.window ?? '5m';
  const forDuration = opts.for ?? '2m';
  const gateRules: AlertRule[] = [];
  const ratioRules: AlertRule[] = [];
  const aggregates = runAggregates(w);
  const runRules: AlertRule[] = [];
  for (const [gate, source] of Object.entries(file.quality_gates ?? {})) {
    if (!isGateName(gate)) continue;
    const parsed = parseGateExpression(source);
    if ('error' in parsed) continue;
    const expr: GateExpression = parsed;
    gateRules.push({
      alert: `DoppelGate${pascal(gate)}Failing`,
      // one alert per run, whichever of its workers' shares fails (one process: its own gate)
      expr: `min by (run_id, gate) (doppel_gate_passing{gate="${gate}"}) == 0`,
      for: forDuration,
      labels: { severity: 'critical', gate },
      annotations: {
        summary: `doppel quality gate ${gate} fails (run {{ $labels.run_id }})`,
        description: `${gate} is ${valueQuery(gate)}, expected ${expr.source}.`,
      },
    });
    const perRun = aggregates.ratio(gate);
    if (perRun !== undefined) {
      runRules.push({
        alert: `DoppelRun${pascal(gate)}BreachesGate`,
        expr: `${perRun.record} ${NEGATED[expr.op]} ${num(expr.threshold)}`,
        for: forDuration,
        labels: { severity: 'warning', gate },
        annotations: {
          summary: `doppel run {{ $labels.run_id }}: ${gate} over the last ${w}, summed over its workers, breaks its gate ${expr.source}`,
          description: `The ${perRun.what} in run {{ $labels.run_id }}, over all its workers, is {{ $value | humanizePercentage }} over the last ${w}; the gate wants ${expr.source}.`,
        },
      });
    }
    const ratio = ratioFor(gate, w);
    if (ratio !== undefined) {
      ratioRules.push({
        alert: `Doppel${pascal(gate)}BreachesGate`,
        expr: `${ratio.expr} ${NEGATED[expr.op]} ${num(expr.threshold)}`,
        for: forDuration,
        labels: { severity: 'warning', gate },
        annotations: {
          summary: `doppel ${gate} over the last ${w} breaks its gate ${expr.source}`,
          description: `The ${ratio.what} is {{ $value | humanizePercentage }} over the last ${w}; the gate wants ${expr.source}.`,
        },
      });
    }
  }
  const c = file.cutoffs;
  if (c?.max_error_rate !== undefined) {
    const r = ratioFor('error_rate', w) as { expr: string; what: string };
    ratioRules.push({
      alert: 'DoppelErrorRateAboveCutoff',
      expr: `${r.expr} > ${num(c.max_error_rate)}`,
      for: forDuration,
      labels: { severity: 'critical', cutoff: 'max_error_rate' },
      annotations: {
        summary: `doppel candidate errors above the cutoff max_error_rate ${num(c.max_error_rate)}`,
        description: `The ${r.what} is {{ $value | humanizePercentage }} over the last ${w}; a replay would abort above ${num(c.max_error_rate)}.`,
      },
    });
  }
  if (c?.max_mock_miss_rate !== undefined) {
    ratioRules.push({
      alert: 'DoppelMockMissRateAboveCutoff',
      expr: `(sum(rate(doppel_mock_requests_total{result!="matched"}[${w}])) / sum(rate(doppel_mock_requests_total[${w}]))) > ${num(c.max_mock_miss_rate)}`,
      for: forDuration,
      labels: { severity: 'critical', cutoff: 'max_mock_miss_rate' },
      annotations: {
        summary: `doppel mocks miss more calls than the cutoff max_mock_miss_rate ${num(c.max_mock_miss_rate)}`,
        description: `Mocks found no recording (unmatched or passed through) for {{ $value | humanizePercentage }} of calls over the last ${w}.`,
      },
    });
  }
  const maxDrop = opts.maxShadowDropRatio ?? 0.05;
  const dropped = `sum(rate(doppel_shadow_dropped_total[${w}]))`;
  ratioRules.push({
    alert: 'DoppelShadowDropping',
    expr: `(${dropped} / (${dropped} + sum(rate(doppel_compare_total{mode="shadow"}[${w}])))) > ${num(maxDrop)}`,
    for: forDuration,
    labels: { severity: 'warning' },
    annotations: {
      summary: 'doppel shadow drops copies: gates judge only part of the traffic',
      description: `{{ $value | humanizePercentage }} of shadow copies were dropped over the last ${w} (queue full, candidate slow or down); above ${num(maxDrop)} the judged traffic is thin.`,
    },
  });
  const groups: RuleGroup[] = [];
  if (gateRules.length > 0) groups.push({ name: 'doppel-quality-gates', rules: gateRules });
  groups.push({ name: 'doppel-replica-ratios', rules: ratioRules });
  // Recording rules first in their group: a group evaluates in order, so the alerts read this round's sums.
  groups.push({ name: 'doppel-run-across-workers', rules: [...aggregates.rules, ...runRules] });
  return groups;
}

export function renderPrometheusRules(file: Readonly<GatesFile>, opts: PrometheusRulesOptions = {}): string {
  const header = [
    '# Prometheus alerting rules generated by `doppel rules` from the quality gates.',
    '# status_pass_rate, latency deltas, new_mismatch and max_5xx_rate have no counter-ratio form in the',
    '# metric contract; their doppel_gate_passing alerts cover them.',
    '# doppel-run-across-workers: the workers of one run (label worker) summed by run_id before any',
    '# ratio or quantile; run:* series are those sums, the run gates and its latency quantiles.',
    '',
  ].join('\n');
  return header + stringify({ groups: buildPrometheusRules(file, opts) }, { lineWidth: 0 });
}
