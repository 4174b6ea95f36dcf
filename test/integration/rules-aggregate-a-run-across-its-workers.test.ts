import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { CliIO } from '../../src/cli/context.js';
import { executeCommandLine } from '../../src/main.js';
import { tempDir } from '../helpers/http.js';
import { findExecutable, missingToolMessage, skipOrFail } from '../helpers/services.js';

const run = promisify(execFile);
const promtool = findExecutable('promtool');

const GATES = `quality_gates:
  body_match_rate: ">= 0.88"
  field_match_rate: ">= 0.89"
  error_rate: "<= 0.05"
`;

/** Two workers of run r1, scraped as two targets: each series carries its own worker and instance. */
const W1 = 'run_id="r1",worker="w1",instance="10.0.0.1:4190",job="doppel"';
const W2 = 'run_id="r1",worker="w2",instance="10.0.0.2:4190",job="doppel"';

/** A counter growing by `a` a minute for 10 minutes, then by `b` a minute for 20 (promtool notation). */
function phases(a: number, b: number): string {
  return `0+${a}x10 ${a * 10}+${b}x20`;
}

async function rulesFor(gates: string, dir: string): Promise<string> {
  const gatesFile = join(dir, 'gates.yaml');
  await writeFile(gatesFile, gates);
  const stdout = new PassThrough();
  let out = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  const io: CliIO = { stdout, stderr: new PassThrough(), env: {}, signal: new AbortController().signal, cwd: process.cwd() };
  expect(await executeCommandLine(['rules', '--gates', gatesFile, '--window', '5m', '--for', '1m'], io)).toBe(0);
  const file = join(dir, 'rules.yaml');
  await writeFile(file, out);
  return file;
}

describe('doppel rules aggregate a distributed run across its workers', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('doppel-rules-workers-'));
  });
  afterAll(async () => {
    await cleanup();
  });

  it('sums the workers\' counters and buckets by run before ratios and quantiles; the gate alerts once per run', async (ctx) => {
    if (!promtool) skipOrFail(ctx, missingToolMessage('promtool', 'prometheus'));
    const rulesFile = await rulesFor(GATES, dir);
    const check = await run(promtool, ['check', 'rules', rulesFile]);
    expect(check.stdout).toContain('SUCCESS');

    const series = [
      // body: w1 95 of 100 match a minute, w2 85 of 100: the run 180 of 200 = 0.9, above the gate 0.88
      // although w2 alone (0.85) is below it. After 10 minutes w1 drops to 80: the run 165 of 200 = 0.825.
      { series: `doppel_compare_total{${W1},mode="replay",endpoint="GET /a",result="match"}`, values: phases(95, 80) },
      { series: `doppel_compare_total{${W1},mode="replay",endpoint="GET /a",result="mismatch"}`, values: phases(5, 20) },
      { series: `doppel_compare_total{${W1},mode="replay",endpoint="GET /a",result="noise"}`, values: '0x30' },
      { series: `doppel_compare_total{${W2},mode="replay",endpoint="GET /b",result="match"}`, values: phases(85, 85) },
      { series: `doppel_compare_total{${W2},mode="replay",endpoint="GET /b",result="mismatch"}`, values: phases(15, 15) },
      // fields: w1 990 of 1,000, w2 810 of 1,000 (ignored fields count nowhere): the run 0.9, w2 alone under 0.89
      { series: `doppel_compare_fields_total{${W1},result="match"}`, values: phases(990, 990) },
      { series: `doppel_compare_fields_total{${W1},result="mismatch"}`, values: phases(10, 10) },
      { series: `doppel_compare_fields_total{${W1},result="ignored"}`, values: phases(400, 400) },
      { series: `doppel_compare_fields_total{${W2},result="match"}`, values: phases(810, 810) },
      { series: `doppel_compare_fields_total{${W2},result="mismatch"}`, values: phases(190, 190) },
      // errors: w1 none of 100, w2 8 of 100: the run 0.04, under the gate 0.05 that w2 alone breaks
      { series: `doppel_replay_requests_total{${W1},endpoint="GET /a",result="pass"}`, values: phases(100, 100) },
      { series: `doppel_replay_requests_total{${W1},endpoint="GET /a",result="error"}`, values: '0x30' },
      { series: `doppel_replay_requests_total{${W2},endpoint="GET /b",result="pass"}`, values: phases(92, 92) },
      { series: `doppel_replay_requests_total{${W2},endpoint="GET /b",result="error"}`, values: phases(8, 8) },
      // candidate latency: w1 answers everything within 0.1 s, w2 everything between 0.1 and 1 s, at the
      // same rate. Over the summed buckets half is under 0.1 s: p95 = 0.1 + 0.9 * (0.95 - 0.5) / 0.5 = 0.91 s.
      // (The mean of the workers' own p95s would be (0.095 + 0.955) / 2 = 0.525 s.)
      ...[
        [W1, '0.1', 60],
        [W1, '1', 60],
        [W1, '+Inf', 60],
        [W2, '0.1', 0],
        [W2, '1', 60],
        [W2, '+Inf', 60],
      ].map(([w, le, n]) => ({
        series: `doppel_response_duration_seconds_bucket{${w as string},side="candidate",endpoint="GET /a",le="${le as string}"}`,
        values: phases(n as number, n as number),
      })),
      // each worker's own gate gauge: w2's share fails body_match_rate, w1's passes
      { series: `doppel_gate_passing{${W1},gate="body_match_rate"}`, values: '1x30' },
      { series: `doppel_gate_passing{${W2},gate="body_match_rate"}`, values: '0x30' },
      { series: `doppel_gate_value{${W2},gate="body_match_rate"}`, values: '0.85x30' },
    ];
    // in thousandths, rounded: the rates are counts over 60 s, which floats do not hold exactly
    const at = (t: string, record: string, thousandths: number, labels = '{run_id="r1"}') => ({
      eval_time: t,
      expr: `round(1000 * ${record})`,
      exp_samples: [{ labels, value: thousandths }],
    });
    const tests = [
      {
        interval: '1m',
        input_series: series,
        promql_expr_test: [
          at('8m', 'run:doppel_body_match_rate:ratio_rate5m', 900),
          at('25m', 'run:doppel_body_match_rate:ratio_rate5m', 825),
          at('8m', 'run:doppel_field_match_rate:ratio_rate5m', 900),
          at('8m', 'run:doppel_error_rate:ratio_rate5m', 40),
          at('8m', 'run:doppel_response_duration_seconds:p95_5m', 910, '{run_id="r1",side="candidate"}'),
          at('8m', 'run:doppel_response_duration_seconds:p50_5m', 100, '{run_id="r1",side="candidate"}'),
          // one series per run and result, whatever the workers, endpoints and targets
          { eval_time: '8m', expr: 'count(run:doppel_compare_total:rate5m)', exp_samples: [{ labels: '{}', value: 3 }] },
        ],
        alert_rule_test: [
          // the run passes where one worker alone would not
          { eval_time: '8m', alertname: 'DoppelRunBodyMatchRateBreachesGate', exp_alerts: [] },
          { eval_time: '8m', alertname: 'DoppelRunErrorRateBreachesGate', exp_alerts: [] },
          { eval_time: '8m', alertname: 'DoppelRunFieldMatchRateBreachesGate', exp_alerts: [] },
          {
            eval_time: '25m',
            alertname: 'DoppelRunBodyMatchRateBreachesGate',
            exp_alerts: [
              {
                exp_labels: { severity: 'warning', gate: 'body_match_rate', run_id: 'r1' },
                exp_annotations: {
                  summary: 'doppel run r1: body_match_rate over the last 5m, summed over its workers, breaks its gate >= 0.88',
                  description: 'The share of compared responses that match in run r1, over all its workers, is 82.5% over the last 5m; the gate wants >= 0.88.',
                },
              },
            ],
          },
          // one alert for the run, not one per worker or target
          {
            eval_time: '8m',
            alertname: 'DoppelGateBodyMatchRateFailing',
            exp_alerts: [
              {
                exp_labels: { severity: 'critical', gate: 'body_match_rate', run_id: 'r1' },
                exp_annotations: { summary: 'doppel quality gate body_match_rate fails (run r1)', description: 'body_match_rate is 85%, expected >= 0.88.' },
              },
            ],
          },
        ],
      },
    ];
    const testFile = join(dir, 'rules.test.yaml');
    await writeFile(testFile, stringify({ rule_files: [rulesFile], evaluation_interval: '1m', tests }));
    const result = await run(promtool, ['test', 'rules', testFile]).catch((err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? '', stderr: err.stderr ?? '', failed: true }));
    expect(result, `${result.stdout}\n${result.stderr}`).not.toHaveProperty('failed');
    expect(result.stdout).toContain('SUCCESS');
  });
});
