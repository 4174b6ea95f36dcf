import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { recordTraffic, standardPlan, startService, tempDir, type Service } from '../helpers/replay-fixtures.js';
import { refusingPort } from '../helpers/ports.js';

const root = join(import.meta.dirname, '..', '..');

function doppel(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(root, 'bin', 'doppel.js'), ...args], { cwd: root, env: { ...process.env, CI: '' }, timeout: 45_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

const REPORT_FILES = ['summary.json', 'junit.xml', 'report.html', 'diffs.ndjson'];

describe('doppel replay as a child process', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let baseline: Service;
  let traffic: string;
  let gates: string;
  beforeAll(async () => {
    dir = await tempDir('doppel-replay-cli-');
    traffic = join(dir.path, 'traffic');
    baseline = await startService();
    await recordTraffic(baseline, traffic, standardPlan());
    gates = join(dir.path, 'gates.yaml');
    writeFileSync(gates, 'quality_gates:\n  status_pass_rate: ">= 0.99"\n  body_match_rate: ">= 0.99"\ncutoffs:\n  min_requests: 10\n  max_error_rate: 0.5\n');
  });
  afterAll(async () => {
    await baseline.close();
    await dir.cleanup();
  });

  it('exits 0 for an identical build and writes the four report files', async () => {
    const candidate = await startService();
    try {
      const report = join(dir.path, 'r0');
      const r = await doppel(['replay', '--traffic', traffic, '--target', candidate.url, '--gates', gates, '--report', report, '--time-scale', '1000', '--log-level', 'warn']);
      expect(r.stderr).not.toContain('internal error');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('PASSED');
      expect(r.stdout).toContain(`report: ${report}`);
      for (const f of REPORT_FILES) expect(existsSync(join(report, f)), f).toBe(true);
      const summary = JSON.parse(readFileSync(join(report, 'summary.json'), 'utf8'));
      expect(summary.verdict).toBe('pass');
      expect(summary.counts.requests).toBe(60);
    } finally {
      await candidate.close();
    }
  });

  it('exits 1 when a gate fails, with the mismatches in diffs.ndjson', async () => {
    const candidate = await startService({ changeTotal: true });
    try {
      const report = join(dir.path, 'r1');
      const r = await doppel(['replay', '--traffic', traffic, '--target', candidate.url, '--gates', gates, '--report', report, '--time-scale', '1000', '--log-level', 'warn']);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/body_match_rate\s+0\.6667\s+>= 0\.99\s+FAIL/);
      const diffs = readFileSync(join(report, 'diffs.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(diffs).toHaveLength(20);
      expect(new Set(diffs.map((d) => d.endpoint))).toEqual(new Set(['GET /orders/:id']));
    } finally {
      await candidate.close();
    }
  });

  it('exits 2 naming the path when the traffic directory does not exist', async () => {
    const missing = join(dir.path, 'no-such-traffic');
    const r = await doppel(['replay', '--traffic', missing, '--target', 'http://127.0.0.1:9', '--log-level', 'warn']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(missing);
  });

  it('exits 3 when the target is unreachable, counting errors and still writing the report', async () => {
    const report = join(dir.path, 'r3');
    const port = await refusingPort();
    const r = await doppel(['replay', '--traffic', traffic, '--target', `http://127.0.0.1:${port}`, '--gates', gates, '--report', report, '--time-scale', '1000', '--log-level', 'silent']);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/ABORTED \((cutoff|target unreachable)/);
    for (const f of REPORT_FILES) expect(existsSync(join(report, f)), f).toBe(true);
    const summary = JSON.parse(readFileSync(join(report, 'summary.json'), 'utf8'));
    expect(summary.verdict).toBe('aborted');
    expect(summary.counts.errors).toBeGreaterThan(0);
    expect(summary.abortReason).toBeTruthy();
  });
});
