/**
 * `doppel run` end to end on the bundled orders demo: mocks from the
 * recordings, v1 as the baseline build, v2 as the candidate, gates and the
 * report. A fresh recording made through `doppel record` against the real
 * Postgres server is replayed the same way, so the whole loop is covered.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { runCli, ROOT } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';

const DEMO = join(ROOT, 'examples', 'orders');
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** The demo's fixed ports moved to free ones, so a run never collides with anything else listening. */
async function withFreePorts(text: string): Promise<string> {
  let out = text;
  for (const fixed of ['18091', '16432', '18080', '18082']) {
    const port = await freePort();
    out = out.replaceAll(`:${fixed}`, `:${port}`).replaceAll(`"${fixed}"`, `"${port}"`);
  }
  return out;
}

/** The demo config with absolute paths, free ports, a temp report dir and optional changes. */
async function demoConfig(change: (cfg: Record<string, any>) => void = () => {}): Promise<{ file: string; report: string; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'doppel-run-'));
  dirs.push(dir);
  const cfg = parse(await withFreePorts(await readFile(join(DEMO, 'doppel.yaml'), 'utf8'))) as Record<string, any>;
  for (const m of cfg.mocks) m.traffic = join(DEMO, 'traffic');
  cfg.replay.traffic = join(DEMO, 'traffic');
  cfg.replay.report = join(dir, 'report');
  cfg.sut.cwd = ROOT;
  cfg.baseline.cwd = ROOT;
  change(cfg);
  const file = join(dir, 'doppel.yaml');
  await writeFile(file, stringify(cfg));
  return { file, report: join(dir, 'report'), dir };
}

async function diffPaths(report: string): Promise<string[]> {
  const text = await readFile(join(report, 'diffs.ndjson'), 'utf8');
  const out = new Set<string>();
  for (const line of text.split('\n').filter(Boolean)) {
    const d = JSON.parse(line);
    for (const f of d.diffs) out.add(`${d.endpoint} ${f.path}`);
  }
  return [...out];
}

describe('doppel run on the orders demo', () => {
  it('catches exactly the planted regression (exit 1) and absorbs the harmless change', async () => {
    const { file, report } = await demoConfig();
    // Under the test's 150 s: a hung run is killed and fails with its output, not as a test timeout.
    const r = await runCli(['run', file], { timeoutMs: 120_000 });
    expect(r.stdout).toContain('▶ backends');
    expect(r.stdout).toContain('▶ baseline');
    expect(r.stdout).toContain('verdict: FAIL (exit 1)');
    expect(r.stdout).toContain(`report: ${join(report, 'report.html')}`);
    expect(r.code).toBe(1);
    expect(await diffPaths(report)).toEqual(['GET /orders/:id $.order.total']);
    const summary = JSON.parse(await readFile(join(report, 'summary.json'), 'utf8'));
    const gate = (name: string) => summary.gates.find((g: { gate: string }) => g.gate === name);
    expect(gate('mock_match_rate').isPassing).toBe(true);
    expect(gate('status_pass_rate').isPassing).toBe(true);
    expect(gate('new_mismatch').isPassing).toBe(false);
    // The baseline build against the same mocks matched its own recordings everywhere.
    const base = JSON.parse(await readFile(join(report, 'baseline', 'summary.json'), 'utf8'));
    expect(base.counts.bodyMatch).toBe(base.counts.requests);
    const phases = JSON.parse(await readFile(join(report, 'phases.json'), 'utf8'));
    expect(phases.phases.map((p: { phase: string; status: string }) => `${p.phase}:${p.status}`)).toEqual(['backends:ok', 'baseline:ok', 'sut:ok', 'replay:ok', 'gates:ok']);
  }, 150_000);

  it('passes (exit 0) when the candidate is the baseline build', async () => {
    const { file } = await demoConfig((cfg) => {
      cfg.sut.command = 'node --import tsx examples/orders/server-v1.ts';
    });
    const r = await runCli(['run', file], { timeoutMs: 120_000 });
    expect(r.stdout).toContain('verdict: PASS (exit 0)');
    expect(r.code).toBe(0);
  }, 150_000);

  it('replays a fresh recording made through doppel record against real Postgres', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'doppel-run-rec-'));
    dirs.push(dir);
    const traffic = join(dir, 'traffic');
    const db = `doppel_run_${process.pid}`;
    const rec = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'examples/orders/record.ts', '--out', traffic, '--database', db], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('close', (code) => resolve({ code, out }));
    });
    expect(rec.out).not.toMatch(/error/i);
    expect(rec.code).toBe(0);
    const { file, report } = await demoConfig((cfg) => {
      for (const m of cfg.mocks) m.traffic = traffic;
      cfg.replay.traffic = traffic;
      for (const side of [cfg.sut, cfg.baseline]) side.env.DATABASE_URL = side.env.DATABASE_URL.replace('doppel_demo', db);
    });
    const r = await runCli(['run', file], { timeoutMs: 120_000 });
    expect(r.code).toBe(1);
    expect(await diffPaths(report)).toEqual(['GET /orders/:id $.order.total']);
  }, 150_000);
});

describe('doppel run bad input', () => {
  it('names a missing mock traffic directory in the backends phase, exit 2', async () => {
    const { file } = await demoConfig((cfg) => {
      cfg.mocks[1].traffic = '/nonexistent/doppel-traffic';
    });
    const r = await runCli(['run', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('backends: mocks[1] (db): traffic directory /nonexistent/doppel-traffic does not exist');
  });

  it('names a missing sut command, exit 2', async () => {
    const { file } = await demoConfig((cfg) => {
      delete cfg.sut.command;
    });
    const r = await runCli(['run', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/sut\.command: required/);
  });

  it('a candidate that exits early aborts the run (exit 3) with its last lines, artifacts kept', async () => {
    const { file, report } = await demoConfig((cfg) => {
      cfg.sut.command = `node -e "console.error('fatal: config missing'); process.exit(7)"`;
    });
    const r = await runCli(['run', file], { timeoutMs: 120_000 });
    expect(r.code).toBe(3);
    expect(r.stdout).toContain('✗ sut failed: sut exited before it was ready (exit code 7)');
    expect(r.stdout).toContain('fatal: config missing');
    const phases = JSON.parse(await readFile(join(report, 'phases.json'), 'utf8'));
    expect(phases.phases.at(-1)).toMatchObject({ phase: 'sut', status: 'failed', detail: expect.stringContaining('fatal: config missing') });
    expect(await readFile(join(report, 'sut.stderr.log'), 'utf8')).toContain('fatal: config missing');
  }, 150_000);

  it('--dry-run validates and prints the plan without starting anything', async () => {
    const { file } = await demoConfig();
    const r = await runCli(['run', file, '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('1. backends:');
    expect(r.stdout).toContain('233 exchanges');
    expect(r.stdout).toContain('dry run: config and traffic are valid; nothing was started');
  });
});
