import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import pino from 'pino';
import { executeCommandLine } from '../../src/main.js';
import { runReplay } from '../../src/replay/run-replay.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { systemClock } from '../../src/core/clock.js';
import { parseConfig } from '../../src/config/load.js';
import type { ReplayRun } from '../../src/replay/replay-run.js';
import { captureIO, recordTraffic, startService, tempDir, type Service } from '../helpers/replay-fixtures.js';

describe('replay answers bad input with a clear error and exit code', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let baseline: Service;
  let traffic: string;
  beforeAll(async () => {
    dir = await tempDir('doppel-replay-bad-');
    traffic = join(dir.path, 'traffic');
    baseline = await startService();
    await recordTraffic(baseline, traffic, [
      { method: 'GET', url: '/broken', session: 'a' },
      { method: 'GET', url: '/users/1', session: 'b' },
    ]);
  });
  afterAll(async () => {
    await baseline.close();
    await dir.cleanup();
  });

  const replay = async (args: string[]) => {
    const io = captureIO();
    const code = await executeCommandLine(['replay', '--log-level', 'silent', ...args], io.io);
    return { code, stderr: io.stderr(), stdout: io.stdout() };
  };

  it('exits 2 naming an empty traffic directory', async () => {
    const empty = join(dir.path, 'empty');
    mkdirSync(empty);
    const r = await replay(['--traffic', empty, '--target', 'http://127.0.0.1:9']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(empty);
  });

  it('exits 2 when filters leave nothing to replay', async () => {
    const r = await replay(['--traffic', traffic, '--target', 'http://127.0.0.1:9', '--include', 'DELETE /nothing/*']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no inbound HTTP exchanges');
  });

  it('exits 2 naming the key of an invalid gate expression', async () => {
    const gates = join(dir.path, 'bad-gates.yaml');
    writeFileSync(gates, 'quality_gates:\n  body_match_rate: "at least 0.9"\n');
    const r = await replay(['--traffic', traffic, '--target', 'http://127.0.0.1:9', '--gates', gates]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('quality_gates.body_match_rate');
  });

  it('exits 2 naming the key of an invalid capture path', async () => {
    const cfg = join(dir.path, 'bad-capture.yaml');
    writeFileSync(cfg, 'replay:\n  captures:\n    - { name: id, from: "id[" }\n');
    const r = await replay(['--config', cfg, '--traffic', traffic, '--target', 'http://127.0.0.1:9']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('replay.captures[0].from');
  });

  it('exits 2 naming the key of an invalid ignore path', async () => {
    const cfg = join(dir.path, 'bad-ignore.yaml');
    writeFileSync(cfg, 'compare:\n  ignore: ["createdAt"]\n');
    const r = await replay(['--config', cfg, '--traffic', traffic, '--target', 'http://127.0.0.1:9']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('compare.ignore[0]');
  });

  it('compares a body that claims JSON but is not as bytes, flags it, and goes on', async () => {
    const candidate = await startService({ brokenJsonVariant: true });
    let live: ReplayRun | undefined;
    try {
      const cfg = parseConfig('', 't.yaml', {});
      const res = await runReplay(
        { replay: { ...cfg.replay, traffic: [traffic], target: candidate.url, time_scale: 1000 }, compare: cfg.compare, gates: {}, cutoffs: cfg.cutoffs, vars: {} },
        { log: pino({ level: 'silent' }), metrics: createMetrics(), clock: systemClock, observe: (r) => (live = r) },
      );
      expect(res.counts).toMatchObject({ sent: 2, passed: 1, failed: 1 });
      const d = live!.recentDiffs[0]!;
      expect(d.endpoint).toBe('GET /broken');
      expect(d.flags.length).toBeGreaterThan(0);
    } finally {
      await candidate.close();
    }
  });

  it('--dry-run prints what would be sent and sends nothing', async () => {
    const r = await replay(['--traffic', traffic, '--target', 'http://127.0.0.1:9', '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('GET http://127.0.0.1:9/broken');
    expect(r.stdout).toContain('GET http://127.0.0.1:9/users/1');
  });
});
