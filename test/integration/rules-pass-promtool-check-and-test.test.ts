import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { executeCommandLine } from '../../src/main.js';
import type { CliIO } from '../../src/cli/context.js';
import { findExecutable, missingToolMessage, skipOrFail } from '../helpers/services.js';

const run = promisify(execFile);
const promtool = findExecutable('promtool');

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const io: CliIO = { stdout, stderr, env: {}, signal: new AbortController().signal, cwd: process.cwd() };
  const code = await executeCommandLine(argv, io);
  return { code, stdout: out, stderr: err };
}

const GATES = `quality_gates:
  status_pass_rate: ">= 0.99"
  body_match_rate: ">= 0.95"
  field_match_rate: ">= 0.99"
  mock_match_rate: ">= 0.98"
  error_rate: "<= 0.01"
  new_mismatch: "== 0"
cutoffs:
  min_requests: 50
  max_error_rate: 0.1
  max_mock_miss_rate: 0.2
`;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'doppel-rules-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Counter series: `good`/min for 10 minutes, then `bad`/min for 20 minutes (promtool expanding notation). */
function phases(under: number, over: number): string {
  return `0+${under}x10 ${under * 10}+${over}x20`;
}

describe('doppel rules', () => {
  it('exits 2 naming file and line for a bad gates file', async () => {
    const file = join(dir, 'bad-gates.yaml');
    await writeFile(file, 'quality_gates:\n  body_match_rate: ">= 0.95"\n  speed: "> 3"\n  error_rate: "lots"\n');
    const r = await cli(['rules', '--gates', file]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`${file}:3 quality_gates.speed: unknown gate`);
    expect(r.stderr).toContain(`${file}:4 quality_gates.error_rate: expected an operator`);
  });

  it('exits 2 when the gates file does not exist or no gates are given', async () => {
    expect((await cli(['rules', '--gates', join(dir, 'missing.yaml')])).code).toBe(2);
    const none = await cli(['rules']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('rules needs --gates FILE');
  });

  it('prints rules that promtool accepts and that fire over each threshold and stay quiet under it', async (ctx) => {
    if (!promtool) skipOrFail(ctx, missingToolMessage('promtool', 'prometheus'));
    const gatesFile = join(dir, 'gates.yaml');
    await writeFile(gatesFile, GATES);
    const r = await cli(['rules', '--gates', gatesFile, '--window', '5m', '--for', '1m']);
    expect(r.code).toBe(0);
    const rulesFile = join(dir, 'rules.yaml');
    await writeFile(rulesFile, r.stdout);
    const check = await run(promtool, ['check', 'rules', rulesFile]);
    expect(check.stdout).toContain('SUCCESS: 26 rules found');

    const run1 = 'run_id="r1"';
    const series = [
      // gate gauges: passing for 10 minutes, failing after
      { series: `doppel_gate_passing{${run1},gate="body_match_rate"}`, values: '1x10 0x20' },
      { series: `doppel_gate_value{${run1},gate="body_match_rate"}`, values: '0.99x10 0.8x20' },
      { series: `doppel_gate_passing{${run1},gate="status_pass_rate"}`, values: '1x30' },
      // compare results: 98% match, then 90%
      { series: `doppel_compare_total{${run1},mode="shadow",endpoint="GET /a",result="match"}`, values: phases(98, 90) },
      { series: `doppel_compare_total{${run1},mode="shadow",endpoint="GET /a",result="mismatch"}`, values: phases(2, 10) },
      // fields: 99.5% match, then 98%
      { series: `doppel_compare_fields_total{${run1},result="match"}`, values: phases(995, 980) },
      { series: `doppel_compare_fields_total{${run1},result="mismatch"}`, values: phases(5, 20) },
      { series: `doppel_compare_fields_total{${run1},result="ignored"}`, values: phases(500, 500) },
      // mocks: 99% matched, then 70% (30% misses: above the 0.2 cutoff too)
      { series: 'doppel_mock_requests_total{service="payments",protocol="http",result="matched"}', values: phases(99, 70) },
      { series: 'doppel_mock_requests_total{service="payments",protocol="http",result="unmatched"}', values: phases(1, 20) },
      { series: 'doppel_mock_requests_total{service="payments",protocol="http",result="passthrough"}', values: phases(0, 10) },
      // replay errors: 0.5%, then 20% (above gate 0.01 and cutoff 0.1)
      { series: `doppel_replay_requests_total{${run1},endpoint="GET /a",result="pass"}`, values: phases(199, 80) },
      { series: `doppel_replay_requests_total{${run1},endpoint="GET /a",result="error"}`, values: phases(1, 20) },
      // shadow drops: 1 and then 11 per 100 judged copies (about 1% and 9.9%)
      { series: 'doppel_shadow_dropped_total{reason="queue_full"}', values: phases(1, 11) },
    ];
    const under = '8m';
    const over = '25m';
    const alertNames = [
      'DoppelGateBodyMatchRateFailing',
      'DoppelGateStatusPassRateFailing',
      'DoppelBodyMatchRateBreachesGate',
      'DoppelFieldMatchRateBreachesGate',
      'DoppelMockMatchRateBreachesGate',
      'DoppelErrorRateBreachesGate',
      'DoppelErrorRateAboveCutoff',
      'DoppelMockMissRateAboveCutoff',
      'DoppelShadowDropping',
    ];
    const expectedOver: Record<string, Array<Record<string, unknown>>> = {
      DoppelGateBodyMatchRateFailing: [
        {
          exp_labels: { severity: 'critical', gate: 'body_match_rate', run_id: 'r1' },
          exp_annotations: {
            summary: 'doppel quality gate body_match_rate fails (run r1)',
            description: 'body_match_rate is 80%, expected >= 0.95.',
          },
        },
      ],
      DoppelGateStatusPassRateFailing: [],
      DoppelBodyMatchRateBreachesGate: [
        {
          exp_labels: { severity: 'warning', gate: 'body_match_rate' },
          exp_annotations: {
            summary: 'doppel body_match_rate over the last 5m breaks its gate >= 0.95',
            description: 'The share of compared responses that match, over all doppel processes is 90% over the last 5m; the gate wants >= 0.95.',
          },
        },
      ],
      DoppelFieldMatchRateBreachesGate: [
        {
          exp_labels: { severity: 'warning', gate: 'field_match_rate' },
          exp_annotations: {
            summary: 'doppel field_match_rate over the last 5m breaks its gate >= 0.99',
            description: 'The share of compared fields that match, over all doppel processes is 98% over the last 5m; the gate wants >= 0.99.',
          },
        },
      ],
      DoppelMockMatchRateBreachesGate: [
        {
          exp_labels: { severity: 'warning', gate: 'mock_match_rate' },
          exp_annotations: {
            summary: 'doppel mock_match_rate over the last 5m breaks its gate >= 0.98',
            description: 'The share of mock calls answered from recordings, over all doppel processes is 70% over the last 5m; the gate wants >= 0.98.',
          },
        },
      ],
      DoppelErrorRateBreachesGate: [
        {
          exp_labels: { severity: 'warning', gate: 'error_rate' },
          exp_annotations: {
            summary: 'doppel error_rate over the last 5m breaks its gate <= 0.01',
            description: 'The share of replayed requests the candidate did not answer, over all doppel processes is 20% over the last 5m; the gate wants <= 0.01.',
          },
        },
      ],
      DoppelErrorRateAboveCutoff: [
        {
          exp_labels: { severity: 'critical', cutoff: 'max_error_rate' },
          exp_annotations: {
            summary: 'doppel candidate errors above the cutoff max_error_rate 0.1',
            description: 'The share of replayed requests the candidate did not answer, over all doppel processes is 20% over the last 5m; a replay would abort above 0.1.',
          },
        },
      ],
      DoppelMockMissRateAboveCutoff: [
        {
          exp_labels: { severity: 'critical', cutoff: 'max_mock_miss_rate' },
          exp_annotations: {
            summary: 'doppel mocks miss more calls than the cutoff max_mock_miss_rate 0.2',
            description: 'Mocks found no recording (unmatched or passed through) for 30% of calls over the last 5m.',
          },
        },
      ],
      DoppelShadowDropping: [
        {
          exp_labels: { severity: 'warning' },
          exp_annotations: {
            summary: 'doppel shadow drops copies: gates judge only part of the traffic',
            description:
              '9.91% of shadow copies were dropped over the last 5m (queue full, candidate slow or down); above 0.05 the judged traffic is thin.',
          },
        },
      ],
    };
    const alertTests = [
      ...alertNames.map((name) => ({ eval_time: under, alertname: name, exp_alerts: [] })),
      ...alertNames.map((name) => ({ eval_time: over, alertname: name, exp_alerts: expectedOver[name] })),
    ];
    const testFile = join(dir, 'rules.test.yaml');
    await writeFile(testFile, stringify({ rule_files: [rulesFile], evaluation_interval: '1m', tests: [{ interval: '1m', input_series: series, alert_rule_test: alertTests }] }));
    const result = await run(promtool, ['test', 'rules', testFile]).catch((err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? '', stderr: err.stderr ?? '', failed: true }));
    expect(result, `${result.stdout}\n${result.stderr}`).not.toHaveProperty('failed');
    expect(result.stdout).toContain('SUCCESS');
  });
});
