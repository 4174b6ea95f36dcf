import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { executeCommandLine } from '../../src/main.js';
import { captureIO, recordTraffic, startService, tempDir, type PlannedRequest, type Service } from '../helpers/replay-fixtures.js';

function plan(): PlannedRequest[] {
  const p: PlannedRequest[] = [];
  for (let i = 1; i <= 10; i++) {
    p.push({ method: 'GET', url: `/orders/${i}`, session: `o${i}` });
    p.push({ method: 'GET', url: '/random', session: `r${i}` });
    p.push({ method: 'GET', url: '/slow', session: `w${i}` });
  }
  return p;
}

describe('--baseline pairs a run with an earlier run of the baseline build', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let recorded: Service;
  let traffic: string;
  beforeAll(async () => {
    dir = await tempDir('doppel-replay-baseline-');
    traffic = join(dir.path, 'traffic');
    recorded = await startService();
    await recordTraffic(recorded, traffic, plan());
  });
  afterAll(async () => {
    await recorded.close();
    await dir.cleanup();
  });

  it('counts only mismatches the baseline run did not have, and compares paired latencies', async () => {
    const gatesFile = join(dir.path, 'gates.yaml');
    writeFileSync(gatesFile, 'quality_gates:\n  new_mismatch: "== 0"\n  latency_p95_delta: "<= +50%"\n');
    const baselineReport = join(dir.path, 'baseline-run');
    const base = await startService();
    try {
      const io = captureIO();
      // the baseline build mismatches /random against the recording already: known, not new
      const code = await executeCommandLine(['replay', '--log-level', 'silent', '--traffic', traffic, '--target', base.url, '--report', baselineReport, '--time-scale', '1000'], io.io);
      expect(io.stderr()).toBe('');
      expect(code).toBe(0);
    } finally {
      await base.close();
    }

    // /slow takes 400 ms on the candidate: far beyond any scheduling noise of the baseline run
    const candidate = await startService({ changeTotal: true, slowMs: 400 });
    try {
      const io = captureIO();
      const code = await executeCommandLine(
        ['replay', '--log-level', 'silent', '--traffic', traffic, '--target', candidate.url, '--baseline', baselineReport, '--gates', gatesFile, '--time-scale', '1000'],
        io.io,
      );
      expect(code).toBe(1);
      const out = io.stdout();
      // 10 changed totals are new; the 10 /random mismatches were in the baseline run too
      expect(out).toMatch(/new_mismatch\s+10\s+== 0\s+FAIL/);
      expect(out).toMatch(/latency_p95_delta\s+\+\d+(\.\d)?%\s+<= \+50%\s+FAIL/);
      expect(out).toContain('failed 20');
    } finally {
      await candidate.close();
    }
  });

  it('rejects a latency gate without a baseline run, naming the key (exit 2)', async () => {
    const gatesFile = join(dir.path, 'latency-only.yaml');
    writeFileSync(gatesFile, 'quality_gates:\n  latency_p95_delta: "<= +10%"\n');
    const io = captureIO();
    const code = await executeCommandLine(['replay', '--log-level', 'silent', '--traffic', traffic, '--target', 'http://127.0.0.1:9', '--gates', gatesFile], io.io);
    expect(code).toBe(2);
    expect(io.stderr()).toContain('quality_gates.latency_p95_delta');
  });
});
