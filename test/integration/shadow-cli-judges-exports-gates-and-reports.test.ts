/**
 * The real CLI as a child process: tees to the candidate, judges, exports
 * match counts and gates on /metrics, serves diff samples on /api/runs/:id,
 * writes a report on demand and at shutdown, and exits with the verdict.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CDF_QUANTILES } from '../../src/gates/gate-accumulator.js';
import type { Percentiles } from '../../src/gates/types.js';
import { DOPPEL_BIN, cliEnv } from '../helpers/cli.js';
import { primaryHandler, requestRaw, startPeer } from '../helpers/shadow-peers.js';

async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined): Promise<T> {
  for (let i = 0; i < 1000; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('doppel shadow (CLI)', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('judges copies, exports gates, serves diffs, writes reports and exits 1 when a gate fails', async () => {
    const primary = await startPeer(primaryHandler);
    // The candidate answers /orders/2 differently: one mismatch in four.
    const candidate = await startPeer((req, body, res) => {
      if (req.url === '/orders/2') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ method: 'GET', url: '/orders/2', body: 'changed' }));
        return;
      }
      primaryHandler(req, body, res);
    });
    const dir = await mkdtemp(join(tmpdir(), 'doppel-shadow-'));
    cleanup.push(() => primary.close(), () => candidate.close(), () => rm(dir, { recursive: true, force: true }));
    const gatesFile = join(dir, 'gates.yaml');
    await writeFile(gatesFile, 'quality_gates:\n  body_match_rate: ">= 0.9"\n');
    const report = join(dir, 'report');
    const child: ChildProcessWithoutNullStreams = spawn(
      process.execPath,
      [DOPPEL_BIN, 'shadow', '--listen', '127.0.0.1:0', '--primary', primary.url, '--candidate', candidate.url, '--gates', gatesFile, '--report', report, '--run-id', 'cli-run', '--admin', '127.0.0.1:0', '--log-level', 'warn'],
      { stdio: 'pipe', env: cliEnv() },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    cleanup.push(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    });
    const line = await waitFor('the listening line', () => /listening on (\S+) .*admin (http:\/\/\S+)/.exec(stdout) ?? (child.exitCode !== null ? (() => { throw new Error(stderr); })() : undefined));
    const listen = `http://${line[1] as string}`;
    const admin = line[2] as string;

    const paths = ['/orders/1', '/orders/2', '/orders/3', '/orders/4'];
    for (let round = 0; round < 3; round++) {
      for (const p of paths) {
        expect(await requestRaw(listen, p)).toEqual(await requestRaw(primary.url, p));
      }
    }
    const run = await waitFor('all copies judged', async () => {
      const r = (await (await fetch(`${admin}/api/runs/cli-run`)).json()) as { judged: number; diffs: Array<{ url: string; diffs: Array<{ path: string }> }>; window: { gates: Array<{ gate: string; value: number; isPassing: boolean }> } };
      return r.judged === 12 ? r : undefined;
    });
    expect(run.diffs).toHaveLength(3);
    expect(run.diffs.every((d) => d.url === '/orders/2' && d.diffs.some((x) => x.path === '$.body'))).toBe(true);
    expect(run.window.gates).toEqual([expect.objectContaining({ gate: 'body_match_rate', value: 0.75, isPassing: false })]);

    const metrics = await waitFor('gates exported', async () => {
      const m = await (await fetch(`${admin}/metrics`)).text();
      return m.includes('doppel_gate_passing{run_id="cli-run",gate="body_match_rate"} 0') ? m : undefined;
    });
    expect(metrics).toContain('doppel_compare_total{run_id="cli-run",mode="shadow",endpoint="GET /orders/:id",result="match"} 9');
    expect(metrics).toContain('doppel_compare_total{run_id="cli-run",mode="shadow",endpoint="GET /orders/:id",result="mismatch"} 3');
    expect(metrics).toMatch(/doppel_response_duration_seconds_count\{run_id="cli-run",side="candidate",endpoint="GET \/orders\/:id"\} 12/);
    expect(metrics).toMatch(/doppel_response_duration_seconds_count\{run_id="cli-run",side="baseline",endpoint="GET \/orders\/:id"\} 12/);
    // The process's own GC pauses and event-loop lag sit beside doppel's metrics (the GC histogram has
    // series only once a collection ran after start, which a short run need not have).
    expect(metrics).toMatch(/^# TYPE nodejs_gc_duration_seconds histogram$/m);
    expect(metrics).toMatch(/^nodejs_eventloop_lag_p99_seconds \d/m);

    const written = (await (await fetch(`${admin}/api/runs/cli-run/report`, { method: 'POST' })).json()) as { report: string };
    expect(written.report).toBe(report);
    const summary = JSON.parse(await readFile(join(report, 'summary.json'), 'utf8')) as { verdict: string; counts: { requests: number; mismatches: number } };
    expect(summary).toMatchObject({ mode: 'shadow', runId: 'cli-run', verdict: 'fail', counts: { requests: 12, mismatches: 3 }, topDiffs: [expect.objectContaining({ endpoint: 'GET /orders/:id', path: '$.body', count: 3 })] });
    const diffLines = (await readFile(join(report, 'diffs.ndjson'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { result: string; diffs: Array<{ path: string }> });
    expect(diffLines).toHaveLength(3);
    expect(diffLines.every((d) => d.result === 'mismatch' && d.diffs.some((x) => x.path === '$.body'))).toBe(true);
    expect((await readFile(join(report, 'results.ndjson'), 'utf8')).trim().split('\n')).toHaveLength(12);

    child.kill('SIGTERM');
    expect(await exited).toBe(1);
    expect(stdout).toContain('verdict fail');
    const junit = await readFile(join(report, 'junit.xml'), 'utf8');
    expect(junit).toContain('<testcase classname="doppel.gates" name="body_match_rate &gt;= 0.9" time="0">');
    expect(junit).toContain('message="body_match_rate is 0.75, expected &gt;= 0.9"');
    const html = await readFile(join(report, 'report.html'), 'utf8');
    expect(html).toContain('body_match_rate');
    const final = JSON.parse(await readFile(join(report, 'summary.json'), 'utf8')) as {
      counts: { requests: number };
      shadow: { dropped: Record<string, number> };
      latency: { paired: Record<'baseline' | 'candidate', Percentiles> };
      endpoints: Array<{ latency: Record<'baseline' | 'candidate', Percentiles> }>;
    };
    expect(final.counts.requests).toBe(12);
    // The live primary and the candidate both have durations: the report carries their distributions
    // as bounded quantile points, and the page draws both, for the run and for each endpoint.
    for (const side of [final.latency.paired.baseline, final.latency.paired.candidate, ...final.endpoints.map((ep) => ep.latency.candidate)]) {
      expect(side.cdf?.map(([q]) => q)).toEqual(CDF_QUANTILES);
      const ms = side.cdf?.map(([, v]) => v) ?? [];
      expect(ms.every((v, i) => v > 0 && (i === 0 || v >= (ms[i - 1] as number)))).toBe(true);
    }
    expect(html.match(/<polyline class="series baseline"/g)).toHaveLength(1 + final.endpoints.length);
    expect(html.match(/<polyline class="series candidate"/g)).toHaveLength(1 + final.endpoints.length);
    expect(final.shadow.dropped.queue_full).toBe(0);
  });

  it('exits 2 with a clear message when --candidate is missing', async () => {
    const child = spawn(process.execPath, [DOPPEL_BIN, 'shadow', '--listen', '127.0.0.1:0', '--primary', 'http://127.0.0.1:1', '--admin', '127.0.0.1:0'], { stdio: 'pipe', env: cliEnv() });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(2);
    expect(stderr).toContain('shadow needs --listen ADDR, --primary URL and --candidate URL');
  });
});
