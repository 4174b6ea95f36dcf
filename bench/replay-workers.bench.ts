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
 *
 * doppel judges every response and commits its sessions; autocannon only sends.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
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

/** Runs a command under bash and reads the children's CPU from `times`: wall ms and CPU ms. */
function timed(cmd: string[]): Promise<{ wallMs: number; cpuMs: number; code: number | null; stderr: string }> {
  const quoted = cmd.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const t0 = performance.now();
  const child = spawn('bash', ['-c', `${quoted} >/dev/null; code=$?; times; exit $code`], {
    cwd: repoRoot,
    env: { ...process.env, DOPPEL_ENTRY: 'src' },
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

export async function runReplayWorkersBench(opts: ReplayWorkersBenchOptions = {}): Promise<string> {
  const figures = opts.figures ?? noFigures;
  const quick = opts.quick === true;
  // BENCH_WORKERS_REQUESTS=100000 for a steady-state run: the hot paths are compiled after start-up,
  // so that cost is not taken out with it and weighs more in a short run.
  const count = quick ? 3000 : Number(process.env.BENCH_WORKERS_REQUESTS ?? 20_000);
  if (!Number.isInteger(count) || count < 1) throw new Error(`BENCH_WORKERS_REQUESTS: expected a count of requests, got ${JSON.stringify(process.env.BENCH_WORKERS_REQUESTS)}`);
  const workerCounts = quick ? [1, 2] : [1, 2, 4];
  const repeats = quick ? 1 : 2;
  const dir = await mkdtemp(join(tmpdir(), 'doppel-bench-workers-'));
  const target = await startTarget();
  const rows: string[] = [];
  const undiciCpu: number[] = [];
  let floorRow = '';
  try {
    const traffic = join(dir, 'traffic');
    const one = join(dir, 'one');
    await writeTraffic(traffic, count);
    await writeTraffic(one, 1);
    for (const w of workerCounts) {
      const rate: number[] = [];
      const cpu: number[] = [];
      let last = { dRate: 0, cRate: 0, dCpu: 0, cCpu: 0 };
      for (let r = 0; r < repeats; r++) {
        const dStart = await timed(doppelCmd(one, target.url, w));
        const d = await timed(doppelCmd(traffic, target.url, w));
        if (d.code !== 0) throw new Error(`doppel replay --workers ${w} exited ${d.code}: ${d.stderr.slice(-500)}`);
        const cStart = await timed(cannonCmd(target.url, w, 1));
        const c = await timed(cannonCmd(target.url, w, count));
        // wall time less start-up, so the rate is the sending rate
        const dRate = count / Math.max(1, d.wallMs - dStart.wallMs) * 1000;
        const cRate = count / Math.max(1, c.wallMs - cStart.wallMs) * 1000;
        const dCpu = Math.max(0, d.cpuMs - dStart.cpuMs) / count;
        const cCpu = Math.max(1e-6, c.cpuMs - cStart.cpuMs) / count;
        rate.push(dRate / cRate);
        cpu.push(dCpu / cCpu);
        last = { dRate, cRate, dCpu, cCpu };
      }
      if (w === 1) {
        // The floor the contract's client sets: undici alone, one process, the same connections.
        const floor: number[] = [];
        for (let r = 0; r < repeats; r++) {
          const uStart = await timed(undiciCmd(target.url, 1));
          const u = await timed(undiciCmd(target.url, count));
          if (u.code !== 0) throw new Error(`undici-load exited ${u.code}: ${u.stderr.slice(-500)}`);
          const cStart = await timed(cannonCmd(target.url, 1, 1));
          const c = await timed(cannonCmd(target.url, 1, count));
          const uCpu = Math.max(0, u.cpuMs - uStart.cpuMs) / count;
          floor.push(uCpu / (Math.max(1e-6, c.cpuMs - cStart.cpuMs) / count));
          undiciCpu.push(uCpu);
        }
        figures.set('undici_alone_cpu_per_request_vs_autocannon', median(floor));
        figures.set('workers_1_cpu_per_request_vs_undici_alone', last.dCpu / Math.max(1e-9, median(undiciCpu)));
        floorRow = `undici alone (bench/undici-load.ts, ${CONNECTIONS_PER_WORKER} connections, one process): ${fmt(median(undiciCpu) * 1000)} µs CPU per request, ${fmt(median(floor), 2)}x autocannon's; doppel replay --workers 1 is ${fmt(last.dCpu / median(undiciCpu), 2)}x it.`;
      }
      figures.set(`workers_${w}_rate_vs_autocannon`, median(rate));
      figures.set(`workers_${w}_cpu_per_request_vs_autocannon`, median(cpu));
      figures.set(`workers_${w}_rate_per_s`, last.dRate);
      rows.push(`| ${w} | ${fmt(last.dRate)} rps | ${fmt(last.cRate)} rps | ${fmt(median(rate), 2)}x | ${fmt(last.dCpu * 1000)} µs | ${fmt(last.cCpu * 1000)} µs | ${fmt(median(cpu), 2)}x |`);
    }
  } finally {
    target.child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
  return [
    `${count} requests, one per session, to one node:http target; ${CONNECTIONS_PER_WORKER} connections per worker; median of ${repeats} run(s). CPU and time of start-up (a one-request run) are taken out.`,
    '',
    '| workers | doppel replay --workers | autocannon -w | rate ratio | doppel CPU/request | autocannon CPU/request | CPU ratio (floor 1.5x) |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    floorRow,
  ].join('\n');
}
