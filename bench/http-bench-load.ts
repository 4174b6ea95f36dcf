/**
 * Servers in their own processes and the load generator, shared by the HTTP
 * benches: the server's CPU is read over IPC, apart from autocannon's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

export const benchDir = dirname(fileURLToPath(import.meta.url));
export const repoRoot = join(benchDir, '..');

export interface Child {
  url: string;
  child: ChildProcess;
  cpuMicros(): Promise<number>;
  stop(): Promise<void>;
}

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  total: number;
  /** transport errors and timeouts */
  errors: number;
  /** answers outside 2xx (a miss bench expects them) */
  non2xx: number;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export function fmt(n: number, d = 0): string {
  return n.toFixed(d);
}

export async function spawnServer(role: string, arg = '', nodeArgs: string[] = []): Promise<Child> {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', join(benchDir, 'http-bench-server.ts'), role, arg], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl !== -1) resolve((JSON.parse(buf.slice(0, nl)) as { url: string }).url);
    });
    child.once('exit', (code) => reject(new Error(`${role} exited ${code}`)));
  });
  return {
    url,
    child,
    cpuMicros: () =>
      new Promise((resolve, reject) => {
        // a server that died mid-bench fails the run instead of leaving it waiting for an answer
        if (child.exitCode !== null || child.signalCode !== null) return reject(new Error(`bench server ${role} exited (${child.exitCode ?? child.signalCode})`));
        const died = (code: number | null, signal: string | null) => reject(new Error(`bench server ${role} exited (${code ?? signal})`));
        const on = (m: { cpu?: { user: number; system: number } }) => {
          if (!m.cpu) return;
          child.off('message', on);
          child.off('exit', died);
          resolve(m.cpu.user + m.cpu.system);
        };
        child.on('message', on);
        child.once('exit', died);
        child.send('cpu');
      }),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export interface LoadOptions {
  connections: number;
  duration: number;
  rate?: number;
  paths?: string[];
  /** a fresh path for every request (overrides `paths`) */
  nextPath?: () => string;
}

export async function load(url: string, o: LoadOptions): Promise<LoadResult> {
  const opts: Record<string, unknown> = { url, connections: o.connections, duration: o.duration, pipelining: 1 };
  if (o.rate !== undefined) opts.overallRate = o.rate;
  const next = o.nextPath;
  if (next !== undefined) opts.requests = [{ method: 'GET', setupRequest: (req: Record<string, unknown>) => ({ ...req, path: next() }) }];
  else if (o.paths !== undefined) opts.requests = o.paths.map((p) => ({ method: 'GET', path: p }));
  const r = await autocannon(opts);
  return { rps: r.requests.total / r.duration, p50: r.latency.p50, p99: r.latency.p99, total: r.requests.total, errors: r.errors + r.timeouts, non2xx: r.non2xx };
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
