/**
 * `npm run bench` refuses what it cannot run before any bench starts: an
 * unknown argument, or a BENCH_ONLY that names no bench.
 */
import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

function runBench(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // Well inside the test's own timeout: a hung child fails here, with its output, not as a test timeout.
    execFile(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
    });
  });
}

describe('bench runner arguments', () => {
  it('exits 2 naming an unknown argument, and runs no bench', async () => {
    const r = await runBench(['--chek']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('bench: unknown argument --chek (the one flag is --check');
    expect(r.stdout).toBe('');
  });

  it('exits 2 when BENCH_ONLY names no bench, listing the benches there are', async () => {
    const r = await runBench(['--check'], { BENCH_ONLY: 'store,htp' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('bench: BENCH_ONLY names no bench htp (benches: store, http, http2, pg, compare, replay, replay-workers, shadow, shadow-settle, grpc)');
    expect(r.stdout).toBe('');
  });
});
