/**
 * Distributed replay on one machine: `doppel replay --workers N` (N worker
 * processes, coordinated in-process) against autocannon with the same number
 * of workers (`-w N`), both sending the same number of requests to the same
 * fast local target with 16 connections per worker.
 *
 *   - throughput with 1, 2, 4 workers (doppel / autocannon)
 *   - CPU per request (doppel / autocannon, floor 1.5x): CPU of all processes,
 *     read from the shell's `times` (children's user + system), less the CPU of
 *     a one-request run of the same command so process start-up is not counted
 *   - steady CPU per request: (CPU of a 2N-request run - CPU of an N-request
 *     run) / N, for both sides, so neither start-up nor the compiling of the
 *     hot paths after it (paid once per process, and once per worker) is in it;
 *     that warm-up is shown apart
 *
 * doppel runs as an installed package runs it: its tsc build, made fresh at
 * the start of the bench (BENCH_ENTRY=src runs the sources through tsx).
 * doppel judges every response and commits its sessions; autocannon only sends.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { join } from 'node:path';
import type { HttpExchange } from '../src/core/exchange.js';
import { createFileStoreWriter } from '../src/store/file-store.js';
import { fmt, median, repoRoot } from './http-bench-load.js';
import { startTarget } from './replay.bench.js';
import { noFigures, type BenchFigures } from './results.js';

export interface ReplayWorkersBenchOptions {
  quick?: boolean;
  figures?: BenchFigures;
}

const CONNECTIONS_PER_WORKER = 16;

export async function writeTraffic(dir: string, count: number): Promise<void> {
  const w = await createFileStoreWriter({ dir });
  const t0 = Date.parse('2026-01-01T00:00:00.000Z');
  const pending: Array<Promise<void>> = [];
  for (let i = 0; i < count; i++) {
    const id = String(i);
    const ex: HttpExchange = {
      v: 1,
      id: `ex-${String(i).padStart(8, '0')}`,
      session: `s-${i}`,
      parent: null,
      direction: 'inbound',
      service: 'items',
      protocol: 'http',
      startedAt: new Date(t0 + i).toISOString(),
      durationMs: 1,
      tags: {},
      http: {
        request: { method: 'GET', url: `/items/${id}`, headers: [['accept', 'application/json']], body: '', bodyEncoding: 'utf8', truncated: false },
        response: { status: 200, headers: [['content-type', 'application/json']], body: `{"id":"${id}","name":"item","price":12.5,"tags":["a","b"]}`, bodyEncoding: 'utf8', truncated: false },
      },
    };
    pending.push(w.append(ex));
  }
  await Promise.all(pending);
  await w.close();
}

/** Which doppel the bench runs: the build (default, made fresh by `buildDoppel`) or the sources. */
const entry = (): 'dist' | 'src' => (process.env.BENCH_ENTRY === 'src' ? 'src' : 'dist');

/** A fresh build (`npm run build`), so the bench never runs a stale dist/. */
async function buildDoppel(): Promise<void> {
  if (entry() === 'src') return;
  await promisify(execFile)('npm', ['run', '--silent', 'build'], { cwd: repoRoot });
}

/** Runs a command under bash and reads the children's CPU from `times`: wall ms and CPU ms. */
function timed(cmd: string[]): Promise<{ wallMs: number; cpuMs: number; code: number | null; stderr: string }> {
  const quoted = cmd.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const t0 = performance.now();
  const child = spawn('bash', ['-c', `${quoted} >/dev/null; code=$?; times; exit $code`], {
    cwd: repoRoot,
    env: { ...process.env, DOPPEL_ENTRY: entry() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      const wallMs = performance.now() - t0;
      const lines = out.trim().split('\n');
      const m = /(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/.exec(lines[lines.length - 1] ?? '');
      const cpuMs = m === null ? Number.NaN : (Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4])) * 1000;
      resolve({ wallMs, cpuMs, code, stderr: err });
    });
  });
}

const doppelCmd = (traffic: string, url: string, workers: number): string[] => [
  process.execPath,
  join(repoRoot, 'bin/doppel.js'),
  'replay',
  '--traffic',
  traffic,
  '--target',
  url,
  '--workers',
  String(workers),
  '--concurrency',
  String(CONNECTIONS_PER_WORKER * workers),
  '--time-scale',
  '1000000000',
  '--log-level',
  'warn',
];

const cannonCmd = (url: string, workers: number, amount: number): string[] => [
  process.execPath,
  join(repoRoot, 'node_modules/autocannon/autocannon.js'),
  '-c',
  String(CONNECTIONS_PER_WORKER * workers),
  ...(workers > 1 ? ['-w', String(workers)] : []),
  '-a',
  String(amount),
  `${url}/items/1`,
];

/** One process sending with undici and nothing else: the replay's own client, at its cheapest. */
const undiciCmd = (url: string, amount: number): string[] => [
  process.execPath,
  '--import',
  'tsx',
  join(repoRoot, 'bench/undici-load.ts'),
  `${url}/items/1`,
  String(amount),
  String(CONNECTIONS_PER_WORKER),
];

interface Runs {
  /** CPU ms of the one-request, N-request and 2N-request runs */
  one: number;
  n: number;
  twice: number;
  /** wall ms of the one-request and N-request runs */
  oneWall: number;
  nWall: number;
}

/** CPU per request over N less start-up, steady CPU per request, and the warm-up left between them (ms). */
function costs(r: Runs, count: number): { perRequest: number; steady: number; warmup: number } {
  const perRequest = Math.max(0, r.n - r.one) / count;
  const steady = Math.max(1e-6, r.twice - r.n) / count;
  return { perRequest, steady, warmup: r.n - r.one - steady * count };
}

async function runThree(cmd: (traffic: string | number) => string[], label: string, traffics: { one: string | number; n: string | number; twice: string | number }): Promise<Runs> {
  const one = await timed(cmd(traffics.one));
  const n = await timed(cmd(traffics.n));
  const twice = await timed(cmd(traffics.twice));
  for (const r of [one, n, twice]) if (r.code !== 0) throw new Error(`${label} exited ${r.code}: ${r.stderr.slice(-500)}`);
  return { one: one.cpuMs, n: n.cpuMs, twice: twice.cpuMs, oneWall: one.wallMs, nWall: n.wallMs };
}

export async function runReplayWorkersBench(opts: ReplayWorkersBenchOptions = {}): Promise<string> {
  const figures = opts.figures ?? noFigures;
  const quick = opts.quick === true;
  // BENCH_WORKERS_REQUESTS=100000 for a long run; the steady figures take warm-up out at any count.
  const count = quick ? 3000 : Number(process.env.BENCH_WORKERS_REQUESTS ?? 20_000);
  if (!Number.isInteger(count) || count < 1) throw new Error(`BENCH_WORKERS_REQUESTS: expected a count of requests, got ${JSON.stringify(process.env.BENCH_WORKERS_REQUESTS)}`);
  const workerCounts = quick ? [1, 2] : [1, 2, 4];
  const repeats = quick ? 1 : 2;
  await buildDoppel();
  const dir = await mkdtemp(join(tmpdir(), 'doppel-bench-workers-'));
  const target = await startTarget();
  const rows: string[] = [];
  const steadyRows: string[] = [];
  let floorRow = '';
  try {
    const traffic = { one: join(dir, 'one'), n: join(dir, 'traffic'), twice: join(dir, 'twice') };
    await writeTraffic(traffic.n, count);
    await writeTraffic(traffic.twice, 2 * count);
    await writeTraffic(traffic.one, 1);
    const amounts = { one: 1, n: count, twice: 2 * count };
    for (const w of workerCounts) {
      const rate: number[] = [];
      const cpu: number[] = [];
      const steady: number[] = [];
      let last = { dRate: 0, cRate: 0, d: costs({ one: 0, n: 0, twice: 0, oneWall: 0, nWall: 0 }, 1), c: costs({ one: 0, n: 0, twice: 0, oneWall: 0, nWall: 0 }, 1) };
      for (let r = 0; r < repeats; r++) {
        const d = await runThree((t) => doppelCmd(String(t), target.url, w), `doppel replay --workers ${w}`, traffic);
        const c = await runThree((a) => cannonCmd(target.url, w, Number(a)), `autocannon -w ${w}`, amounts);
        // wall time less start-up, so the rate is the sending rate
        const dRate = (count / Math.max(1, d.nWall - d.oneWall)) * 1000;
        const cRate = (count / Math.max(1, c.nWall - c.oneWall)) * 1000;
        const dc = costs(d, count);
        const cc = costs(c, count);
        rate.push(dRate / cRate);
        cpu.push(dc.perRequest / Math.max(1e-6, cc.perRequest));
        steady.push(dc.steady / cc.steady);
        last = { dRate, cRate, d: dc, c: cc };
      }
      if (w === 1) {
        // The floor the contract's client sets: undici alone, one process, the same connections.
        const floor: number[] = [];
        const steadyFloor: number[] = [];
        const undici: Array<ReturnType<typeof costs>> = [];
        for (let r = 0; r < repeats; r++) {
          const u = costs(await runThree((a) => undiciCmd(target.url, Number(a)), 'undici-load', amounts), count);
          const c = costs(await runThree((a) => cannonCmd(target.url, 1, Number(a)), 'autocannon', amounts), count);
          floor.push(u.perRequest / Math.max(1e-6, c.perRequest));
          steadyFloor.push(u.steady / c.steady);
          undici.push(u);
        }
        const uCpu = median(undici.map((u) => u.perRequest));
        const uSteady = median(undici.map((u) => u.steady));
        figures.set('undici_alone_cpu_per_request_vs_autocannon', median(floor));
        figures.set('undici_alone_steady_cpu_per_request_vs_autocannon', median(steadyFloor));
        figures.set('workers_1_cpu_per_request_vs_undici_alone', last.d.perRequest / Math.max(1e-9, uCpu));
        figures.set('workers_1_steady_cpu_per_request_vs_undici_alone', last.d.steady / Math.max(1e-9, uSteady));
        floorRow = `undici alone (bench/undici-load.ts, ${CONNECTIONS_PER_WORKER} connections, one process): ${fmt(uCpu * 1000)} µs CPU per request (${fmt(uSteady * 1000)} steady), ${fmt(median(floor), 2)}x autocannon's (${fmt(median(steadyFloor), 2)}x steady); doppel replay --workers 1 is ${fmt(last.d.perRequest / uCpu, 2)}x it (${fmt(last.d.steady / uSteady, 2)}x steady).`;
      }
      figures.set(`workers_${w}_rate_vs_autocannon`, median(rate));
      figures.set(`workers_${w}_cpu_per_request_vs_autocannon`, median(cpu));
      figures.set(`workers_${w}_steady_cpu_per_request_vs_autocannon`, median(steady));
      figures.set(`workers_${w}_warmup_cpu_ms`, last.d.warmup);
      figures.set(`workers_${w}_rate_per_s`, last.dRate);
      rows.push(`| ${w} | ${fmt(last.dRate)} rps | ${fmt(last.cRate)} rps | ${fmt(median(rate), 2)}x | ${fmt(last.d.perRequest * 1000)} µs | ${fmt(last.c.perRequest * 1000)} µs | ${fmt(median(cpu), 2)}x |`);
      steadyRows.push(`| ${w} | ${fmt(last.d.steady * 1000)} µs | ${fmt(last.c.steady * 1000)} µs | ${fmt(median(steady), 2)}x | ${fmt(last.d.warmup)} ms | ${fmt(last.c.warmup)} ms |`);
    }
  } finally {
    target.child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
  return [
    `${count} requests, one per session, to one node:http target; ${CONNECTIONS_PER_WORKER} connections per worker; median of ${repeats} run(s); doppel ${entry() === 'dist' ? 'from its tsc build, as an installed package runs it' : 'from its sources through tsx (BENCH_ENTRY=src)'}. CPU and time of start-up (a one-request run) are taken out.`,
    '',
    '| workers | doppel replay --workers | autocannon -w | rate ratio | doppel CPU/request | autocannon CPU/request | CPU ratio (floor 1.5x) |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `Steady CPU per request: (CPU of a ${2 * count}-request run - CPU of a ${count}-request run) / ${count}, so neither start-up nor warm-up is in it. Warm-up: CPU of the ${count}-request run beyond start-up and ${count} steady requests (compiling the hot paths, growing the heap), paid once per process.`,
    '',
    '| workers | doppel steady CPU/request | autocannon steady CPU/request | steady CPU ratio | doppel warm-up | autocannon warm-up |',
    '|---|---|---|---|---|---|',
    ...steadyRows,
    '',
    floorRow,
  ].join('\n');
}
