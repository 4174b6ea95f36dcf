/**
 * Shadow cost: the same fixed-rate load through
 *   direct         client -> primary
 *   nginx mirror   client -> nginx (mirror) -> primary + candidate
 *   doppel shadow  client -> doppel shadow -> primary + candidate
 *   doppel off     client -> doppel shadow --sample 0 -> primary
 * with a fast, a slow (200 ms) and a dead (connection refused) candidate;
 * repeats interleaved, medians reported. Then RSS of doppel under a flood
 * with a candidate that never answers.
 *
 * Runnable alone: `npx tsx bench/shadow.bench.ts` (BENCH_QUICK=1 for a smoke run).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { setPriority } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { fmt, median, percentile, table } from './stats.js';
import { pacedLoad, pacedPool } from './paced-load.js';
import { noFigures, type BenchFigures } from './results.js';
import type { Pool } from 'undici';

interface AutocannonResult {
  requests: { average: number };
  latency: { p99: number };
  errors: number;
  non2xx: number;
  timeouts: number;
}
/** autocannon ships no types; the few fields used here are typed locally. */
const autocannon = createRequire(import.meta.url)('autocannon') as (o: Record<string, unknown>) => Promise<AutocannonResult>;

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/**
 * The compiled build (what an installed package and the image run) and the TypeScript
 * sources through tsx (what a checkout runs), both started like a user starts doppel:
 * through bin/doppel.js, its DOPPEL_ENTRY switch choosing which.
 */
const DOPPEL_BIN = join(ROOT, 'bin', 'doppel.js');
const ENTRIES = { build: 'dist', source: 'src' } as const;
type Entry = keyof typeof ENTRIES;
const hasBuild = () => existsSync(join(ROOT, 'dist', 'main.js'));

/**
 * The peers: the primary in one child process, the candidates in another, so
 * neither's CPU is the load generator's and copies never queue behind the
 * primary's requests inside one event loop. The candidates' process runs at
 * nice 10: it stands for a build on another machine, and its CPU is not a cost
 * doppel puts on the primary.
 */
const PEER_COMMON = `
import { createServer } from 'node:http';
const body = JSON.stringify({ id: 42, items: [1, 2, 3], note: 'x'.repeat(200) });
const answer = (res) => { res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }); res.end(body); };
const listen = (handler) => new Promise((r) => { const s = createServer(handler); s.keepAliveTimeout = 60000; s.listen(0, '127.0.0.1', () => r(s.address().port)); });
`;
const PRIMARY_SOURCE = `${PEER_COMMON}
const primary = await listen((req, res) => { req.resume(); req.on('end', () => answer(res)); });
process.stdout.write(JSON.stringify({ primary }) + '\\n');
`;
const CANDIDATES_SOURCE = `${PEER_COMMON}
const fast = await listen((req, res) => { req.resume(); req.on('end', () => answer(res)); });
const slow = await listen((req, res) => { req.resume(); req.on('end', () => setTimeout(() => answer(res), 200)); });
const held = await listen((req) => { req.resume(); });
process.stdout.write(JSON.stringify({ fast, slow, held }) + '\\n');
`;

interface Ports {
  primary: number;
  fast: number;
  slow: number;
  held: number;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function firstLine(child: ChildProcess, pattern: RegExp, what: string): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${err}`)), 60_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = pattern.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => reject(new Error(`${what} exited ${code}: ${err}`)));
  });
}

async function startPeers(): Promise<{ ports: Ports; children: ChildProcess[] }> {
  const primary = spawn(process.execPath, ['--input-type=module', '-e', PRIMARY_SOURCE], { stdio: ['ignore', 'pipe', 'pipe'] });
  const candidates = spawn(process.execPath, ['--input-type=module', '-e', CANDIDATES_SOURCE], { stdio: ['ignore', 'pipe', 'pipe'] });
  const [a, b] = await Promise.all([firstLine(primary, /(\{.*\})\n/, 'primary'), firstLine(candidates, /(\{.*\})\n/, 'candidates')]);
  if (process.platform === 'linux' && candidates.pid !== undefined) setPriority(candidates.pid, 10);
  return { ports: { ...(JSON.parse(a[1] as string) as Pick<Ports, 'primary'>), ...(JSON.parse(b[1] as string) as Omit<Ports, 'primary'>) }, children: [primary, candidates] };
}

async function startDoppel(entry: Entry, primary: number, candidate: number, extra: string[] = []): Promise<{ url: string; admin: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [DOPPEL_BIN, 'shadow', '--listen', '127.0.0.1:0', '--primary', `http://127.0.0.1:${primary}`, '--candidate', `http://127.0.0.1:${candidate}`, '--admin', '127.0.0.1:0', '--log-level', 'warn', ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT, env: { ...process.env, DOPPEL_ENTRY: ENTRIES[entry] } },
  );
  const m = await firstLine(child, /listening on (\S+) .*admin (http:\/\/\S+)/, 'doppel shadow');
  return { url: `http://${m[1] as string}`, admin: m[2] as string, child };
}

function findNginx(): string | undefined {
  return ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
}

async function startNginx(bin: string, primary: number, candidate: number): Promise<{ url: string; child: ChildProcess; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'doppel-bench-nginx-'));
  const port = await freePort();
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  await writeFile(
    join(dir, 'nginx.conf'),
    `${user}worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  upstream primary { server 127.0.0.1:${primary}; keepalive 64; }
  upstream candidate { server 127.0.0.1:${candidate}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    keepalive_requests 1000000;
    location / { mirror /mirror; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://primary; }
    location = /mirror { internal; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_connect_timeout 1s; proxy_read_timeout 10s; proxy_pass http://candidate$request_uri; }
  }
}
`,
  );
  const child = spawn(bin, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  // nginx prints nothing when it starts: wait until the port answers.
  for (let i = 0; i < 200; i++) {
    try {
      await fetch(`http://127.0.0.1:${port}/`);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  return { url: `http://127.0.0.1:${port}`, child, dir };
}

interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

/** Unthrottled load (the flood): autocannon. */
async function load(url: string, opts: { seconds: number; rate: number | undefined; connections: number }): Promise<LoadResult> {
  const r = await autocannon({
    url: `${url}/orders/42`,
    connections: opts.connections,
    duration: opts.seconds,
    ...(opts.rate === undefined ? {} : { overallRate: opts.rate }),
  });
  return { rps: r.requests.average, p50: Number.NaN, p99: r.latency.p99, errors: r.errors + r.non2xx + r.timeouts };
}

/** CPU seconds (user + system) a process, or only its main thread, has used so far, from /proc. */
async function cpuSeconds(pid: number, mainThreadOnly = false): Promise<number> {
  const stat = await readFile(mainThreadOnly ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are the 14th and 15th fields overall.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100;
}

/** GC pauses of a doppel so far, from its nodejs_gc_duration_seconds histogram: how many took 1 ms or more, and their total. */
async function gcPauses(admin: string): Promise<{ over1ms: number; totalMs: number }> {
  const text = await (await fetch(`${admin}/metrics`)).text();
  let all = 0;
  let under1ms = 0;
  let totalMs = 0;
  for (const m of text.matchAll(/^nodejs_gc_duration_seconds_bucket\{le="([^"]+)",kind="[^"]+"\} (\d+)$/gm)) {
    if (m[1] === '+Inf') all += Number(m[2]);
    if (m[1] === '0.001') under1ms += Number(m[2]);
  }
  for (const m of text.matchAll(/^nodejs_gc_duration_seconds_sum\{kind="[^"]+"\} ([\d.e+-]+)$/gm)) totalMs += Number(m[1]) * 1000;
  return { over1ms: all - under1ms, totalMs };
}

async function rssKb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+)/.exec(status);
  return m ? Number(m[1]) : 0;
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Copies judged by a doppel so far, from doppel_compare_total{mode="shadow"}. */
async function judgedSoFar(admin: string): Promise<number> {
  const text = await (await fetch(`${admin}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(/^doppel_compare_total\{[^}]*mode="shadow"[^}]*\} (\d+)$/gm)) n += Number(m[1]);
  return n;
}

interface DoppelTarget {
  name: string;
  url: string;
  admin: string;
  pool: Pool;
}

/** Per doppel, one entry per repeat (p99, GC pauses >= 1 ms, copies judged per second) and every latency pooled. */
interface DoppelRuns {
  p99: number[];
  gcOver1ms: number[];
  judgedPerS: number[];
  latencies: number[];
}

/**
 * The same paced load on each doppel in turn, `reps` times, on kept connections after a warm-up:
 * the order is rotated every repeat and reversed every other one, so no doppel always follows
 * the same one.
 */
async function interleavedRuns(targets: readonly DoppelTarget[], o: { reps: number; seconds: number; rate: number; connections: number }): Promise<Map<string, DoppelRuns>> {
  for (const t of targets) await pacedLoad(t.url, { seconds: WARMUP_SECONDS, rate: o.rate, connections: o.connections, pool: t.pool });
  const runs = new Map<string, DoppelRuns>(targets.map((t) => [t.name, { p99: [], gcOver1ms: [], judgedPerS: [], latencies: [] }]));
  for (let r = 0; r < o.reps; r++) {
    const order = targets.map((_, k) => targets[(k + r) % targets.length] as DoppelTarget);
    if (r % 2 === 1) order.reverse();
    for (const t of order) {
      const gc0 = await gcPauses(t.admin);
      const j0 = await judgedSoFar(t.admin);
      const res = await pacedLoad(t.url, { seconds: o.seconds, rate: o.rate, connections: o.connections, pool: t.pool });
      const gc1 = await gcPauses(t.admin);
      const into = runs.get(t.name) as DoppelRuns;
      into.judgedPerS.push(((await judgedSoFar(t.admin)) - j0) / o.seconds);
      into.p99.push(res.p99);
      into.gcOver1ms.push(gc1.over1ms - gc0.over1ms);
      into.latencies.push(...res.latencies);
    }
  }
  return runs;
}

/** Paced load each path gets before the measured runs. */
const WARMUP_SECONDS = 3;

export async function runShadowBench(opts: { quick: boolean; figures?: BenchFigures }): Promise<string> {
  const figures = opts.figures ?? noFigures;
  const seconds = opts.quick ? 1 : 5;
  const reps = opts.quick ? 1 : 8;
  const rate = 1000;
  const connections = 20;
  const floodSeconds = opts.quick ? 2 : 10;
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  const nginxBin = findNginx();
  const out: string[] = [];
  // Latency runs use the build when there is one: that is what production runs.
  const entry: Entry = hasBuild() ? 'build' : 'source';
  try {
    const peers = await startPeers();
    children.push(...peers.children);
    const p = peers.ports;
    const deadPort = await freePort();
    const scenarios = [
      { name: 'fast candidate', key: 'fast', port: p.fast },
      { name: 'slow candidate (200 ms)', key: 'slow', port: p.slow },
      { name: 'dead candidate (refused)', key: 'dead', port: deadPort },
    ];
    const rows: string[][] = [];
    const summary: string[][] = [];
    // Every comparison is between doppels of the same age: each scenario (and the sweep) starts its own
    // `--sample 0` beside the shadowing ones, and all get the same warm-up. A long-running `--sample 0`
    // against a fresh doppel measured JIT and heap sizing still settling in the fresh one.
    const startOff = async () => {
      const d = await startDoppel(entry, p.primary, p.slow, ['--sample', '0']);
      children.push(d.child);
      return d;
    };
    for (const sc of scenarios) {
      const doppel = await startDoppel(entry, p.primary, sc.port);
      children.push(doppel.child);
      const doppelOff = await startOff();
      // A second, identical `--sample 0`: its p99 against the first is this run's noise band (an A/A test).
      const doppelOff2 = await startOff();
      const nginx = nginxBin === undefined ? undefined : await startNginx(nginxBin, p.primary, sc.port);
      if (nginx) {
        children.push(nginx.child);
        dirs.push(nginx.dir);
      }
      const targets: Array<{ name: string; url: string; pid?: number; admin?: string }> = [
        { name: 'direct', url: `http://127.0.0.1:${p.primary}` },
        ...(nginx ? [{ name: 'nginx mirror', url: nginx.url }] : []),
        { name: 'doppel shadow', url: doppel.url, pid: doppel.child.pid as number, admin: doppel.admin },
        { name: 'doppel off', url: doppelOff.url, pid: doppelOff.child.pid as number, admin: doppelOff.admin },
        { name: 'doppel off (A/A)', url: doppelOff2.url, pid: doppelOff2.child.pid as number, admin: doppelOff2.admin },
      ];
      // Each doppel keeps its connections across runs: a run measures the hop, not connection set-up. nginx
      // and direct get fresh ones per run, as before: behind a slow mirror nginx leaves requests unanswered
      // at the end of a run, and a kept pool would start the next run behind them.
      const pools = new Map<string, Pool>(targets.flatMap((t) => (t.admin === undefined ? [] : [[t.name, pacedPool(t.url, connections)] as const])));
      // warm-up: JIT, keep-alive pools, heap sizing
      for (const t of targets) await pacedLoad(t.url, { seconds: WARMUP_SECONDS, rate, connections, pool: pools.get(t.name) });
      const results = new Map<string, Array<LoadResult & { cpuMsPer1000: number; mainMsPer1000: number; gcOver1ms: number; gcMs: number }>>(targets.map((t) => [t.name, []]));
      const pooled = new Map<string, number[]>(targets.map((t) => [t.name, []]));
      for (let r = 0; r < reps; r++) {
        // Alternate the order within a repeat so neither doppel always runs right after nginx or direct.
        const order = r % 2 === 0 ? targets : [...targets].reverse();
        for (const t of order) {
          const cpu0 = t.pid === undefined ? 0 : await cpuSeconds(t.pid);
          const main0 = t.pid === undefined ? 0 : await cpuSeconds(t.pid, true);
          const gc0 = t.admin === undefined ? undefined : await gcPauses(t.admin);
          const res = await pacedLoad(t.url, { seconds, rate, connections, pool: pools.get(t.name) });
          const gc1 = t.admin === undefined ? undefined : await gcPauses(t.admin);
          const per1000 = (s: number) => (s * 1e6) / Math.max(1, res.rps * seconds);
          const cpuMsPer1000 = t.pid === undefined ? Number.NaN : per1000((await cpuSeconds(t.pid)) - cpu0);
          const mainMsPer1000 = t.pid === undefined ? Number.NaN : per1000((await cpuSeconds(t.pid, true)) - main0);
          const gcOver1ms = gc0 === undefined || gc1 === undefined ? Number.NaN : gc1.over1ms - gc0.over1ms;
          const gcMs = gc0 === undefined || gc1 === undefined ? Number.NaN : gc1.totalMs - gc0.totalMs;
          results.get(t.name)?.push({ rps: res.rps, p50: res.p50, p99: res.p99, errors: res.errors + res.unanswered, cpuMsPer1000, mainMsPer1000, gcOver1ms, gcMs });
          pooled.get(t.name)?.push(...res.latencies);
        }
      }
      const all = (name: string) => results.get(name) ?? [];
      const med = (name: string, key: 'rps' | 'p50' | 'p99' | 'errors' | 'cpuMsPer1000' | 'mainMsPer1000' | 'gcOver1ms' | 'gcMs') => median(all(name).map((x) => x[key]));
      const pooledP99 = (name: string) => percentile(pooled.get(name) ?? [], 99);
      for (const t of targets) {
        rows.push([
          sc.name,
          t.name,
          fmt(med(t.name, 'rps'), 0),
          fmt(med(t.name, 'p50'), 2),
          fmt(med(t.name, 'p99'), 2),
          fmt(pooledP99(t.name), 2),
          t.pid === undefined ? '-' : `${fmt(med(t.name, 'cpuMsPer1000'), 0)} / ${fmt(med(t.name, 'mainMsPer1000'), 0)}`,
          t.admin === undefined ? '-' : `${fmt(med(t.name, 'gcOver1ms'), 0)} / ${fmt(med(t.name, 'gcMs'), 0)}`,
          String(med(t.name, 'errors')),
        ]);
      }
      // Ratios are taken per repeat (the two doppels ran back to back) and the median of those is reported.
      const pairRatio = (a: string, b: string, key: 'rps' | 'p99') => median(all(a).map((x, k) => x[key] / Math.max(1e-3, all(b)[k]?.[key] ?? Number.NaN)));
      const ratioNginx = nginx ? fmt(pairRatio('doppel shadow', 'nginx mirror', 'rps')) : 'n/a';
      if (nginx) figures.set(`${sc.key}_rps_vs_nginx_mirror`, pairRatio('doppel shadow', 'nginx mirror', 'rps'));
      figures.set(`${sc.key}_p99_vs_off`, pairRatio('doppel shadow', 'doppel off', 'p99'));
      figures.set(`${sc.key}_p99_vs_off_pooled`, pooledP99('doppel shadow') / pooledP99('doppel off'));
      figures.set(`${sc.key}_aa_p99_ratio`, pairRatio('doppel off (A/A)', 'doppel off', 'p99'));
      figures.set(`${sc.key}_errors`, med('doppel shadow', 'errors'));
      summary.push([
        sc.name,
        ratioNginx,
        fmt(pairRatio('doppel shadow', 'doppel off', 'p99')),
        fmt(pooledP99('doppel shadow') / pooledP99('doppel off')),
        `${fmt(pairRatio('doppel off (A/A)', 'doppel off', 'p99'))} / ${fmt(pooledP99('doppel off (A/A)') / pooledP99('doppel off'))}`,
      ]);
      await Promise.all([...pools.values()].map((pool) => pool.destroy()));
      await stop(doppel.child);
      await stop(doppelOff.child);
      await stop(doppelOff2.child);
      if (nginx) await stop(nginx.child);
    }
    out.push(
      `Fixed rate ${rate} req/s, evenly paced (request i due at i/${rate} s; latency from the due time), over ${connections} keep-alive connections, ${seconds} s per run, ${reps} interleaved repeat(s), medians; doppel from the ${entry === 'build' ? 'compiled build (dist/)' : 'TypeScript sources through tsx (no build: run `npm run build` to bench the build)'}.${nginxBin ? '' : ' nginx not found: compared against direct and doppel off only.'} CPU is the doppel process's own (user + system, from /proc) per 1000 answered requests: whole process / main thread (the one serving the primary). GC is read from doppel's /metrics before and after each run: pauses of 1 ms or more and the total pause time (ms) from nodejs_gc_duration_seconds, medians of the runs. Each doppel keeps its ${connections} connections across its runs. "doppel off (A/A)" is a second, identical \`--sample 0\` doppel: its ratio to the first is the noise of this run.\n`,
    );
    out.push(table(['scenario', 'path', 'req/s', 'p50 ms', 'p99 ms (median of runs)', 'p99 ms (all runs pooled)', 'CPU ms / 1000 req (process / main thread)', 'GC pauses >= 1 ms / GC ms per run', 'errors'], rows));
    out.push('\nTargets: doppel / nginx req/s >= 1.0 (fast) and >= 10 (slow); primary p99 doppel / doppel off <= 1.1 (slow, dead). The p99 ratio is given two ways: the median of per-repeat ratios, and the ratio of p99s over all repeats pooled.\n');
    out.push(table(['scenario', 'doppel / nginx req/s', 'p99 doppel / doppel off (median of repeats)', 'p99 doppel / doppel off (pooled)', 'A/A: p99 doppel off #2 / doppel off (median / pooled)'], summary));

    // The slow candidate against shadow.max_in_flight: copies held at once are in-flight slots, and the primary's GC pauses follow them.
    const sweepRows: string[][] = [];
    const sweepDir = await mkdtemp(join(tmpdir(), 'doppel-bench-sweep-'));
    dirs.push(sweepDir);
    const slots = opts.quick ? [64, 16] : [64, 32, 16, 8];
    const swept: Array<{ slots: number; url: string; admin: string; child: ChildProcess }> = [];
    for (const n of slots) {
      const file = join(sweepDir, `in-flight-${n}.yaml`);
      await writeFile(file, `shadow:\n  max_in_flight: ${n}\n`);
      const d = await startDoppel(entry, p.primary, p.slow, ['--config', file]);
      children.push(d.child);
      swept.push({ slots: n, url: d.url, admin: d.admin, child: d.child });
    }
    const sweepOff = await startOff();
    const sweepOff2 = await startOff();
    const sweepTargets = [
      ...swept.map((d) => ({ name: String(d.slots), url: d.url, admin: d.admin })),
      { name: 'off', url: sweepOff.url, admin: sweepOff.admin },
      { name: 'off (A/A)', url: sweepOff2.url, admin: sweepOff2.admin },
    ];
    const sweepPools = sweepTargets.map((t) => pacedPool(t.url, connections));
    const sweepRuns = await interleavedRuns(
      sweepTargets.map((t, k) => ({ ...t, pool: sweepPools[k] as Pool })),
      { reps, seconds, rate, connections },
    );
    const runsOf = (name: string) => sweepRuns.get(name) as DoppelRuns;
    const offP99 = runsOf('off').p99;
    const offPooled = percentile(runsOf('off').latencies, 99);
    for (const t of sweepTargets) {
      const r = runsOf(t.name);
      sweepRows.push([
        t.name === 'off' ? '`--sample 0`' : t.name === 'off (A/A)' ? '`--sample 0` (A/A)' : t.name,
        fmt(median(r.judgedPerS), 0),
        fmt(median(r.gcOver1ms), 0),
        fmt(median(r.p99), 2),
        fmt(median(r.p99.map((x, k) => x / Math.max(1e-3, offP99[k] ?? Number.NaN)))),
        fmt(percentile(r.latencies, 99) / offPooled),
      ]);
    }
    await Promise.all(sweepPools.map((pool) => pool.destroy()));
    for (const d of [...swept, sweepOff, sweepOff2]) await stop(d.child);
    out.push(`\nSlow candidate (200 ms) by shadow.max_in_flight, same load and repeats; copies/s judged from doppel_compare_total.\n`);
    out.push(table(['max_in_flight', 'copies/s judged', 'GC pauses >= 1 ms per run', 'p99 ms (median of runs)', 'p99 / --sample 0 (median of repeats)', 'p99 / --sample 0 (pooled)'], sweepRows));

    // Flood with a candidate that never answers: bounded queue and in-flight, memory flat. Both entries when built.
    const floodRows: string[][] = [];
    for (const e of hasBuild() ? (['build', 'source'] as const) : (['source'] as const)) {
      const flood = await startDoppel(e, p.primary, p.held, []);
      children.push(flood.child);
      const pid = flood.child.pid as number;
      const before = await rssKb(pid);
      let maxRss = before;
      const sampler = setInterval(() => {
        void rssKb(pid).then((kb) => {
          if (kb > maxRss) maxRss = kb;
        }, () => undefined);
      }, 100);
      const fl = await load(flood.url, { seconds: floodSeconds, rate: undefined, connections: 100 });
      clearInterval(sampler);
      const metrics = await (await fetch(`${flood.admin}/metrics`)).text();
      const dropped = /doppel_shadow_dropped_total\{reason="queue_full"\} (\d+)/.exec(metrics)?.[1] ?? '0';
      const after = await rssKb(pid);
      figures.set(`flood_max_rss_mb_${e}`, maxRss / 1024);
      figures.set(`flood_errors_${e}`, fl.errors);
      floodRows.push([e === 'build' ? 'build (DOPPEL_ENTRY=dist)' : 'source (tsx)', fmt(fl.rps, 0), fmt(before / 1024, 0), fmt(maxRss / 1024, 0), fmt(after / 1024, 0), dropped, String(fl.errors)]);
      await stop(flood.child);
    }
    out.push(`\nFlood: ${floodSeconds} s unthrottled over 100 connections, candidate holds every copy (never answers).${hasBuild() ? '' : ' No build: run `npm run build` to measure the compiled build too.'}\n`);
    out.push(table(['doppel', 'primary req/s', 'RSS at rest MB', 'max RSS MB', 'RSS after MB', 'copies dropped (queue_full)', 'errors'], floodRows));
  } finally {
    for (const c of children.reverse()) await stop(c);
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  }
  return out.join('\n');
}

/**
 * The slow-candidate p99 target alone, with the power the scenario table lacks: the default
 * doppel against two `--sample 0` doppels (the second one the A/A control), 24 interleaved
 * repeats of 5 s each on kept connections (120 s and 120,000 requests per path), ratios per
 * repeat (median) and pooled, and for each half of the run to show how far they move.
 * `npm run bench` with BENCH_ONLY=shadow-settle runs it alone.
 */
export async function runShadowSettle(opts: { quick: boolean; figures?: BenchFigures }): Promise<string> {
  const figures = opts.figures ?? noFigures;
  const reps = opts.quick ? 2 : 24;
  const seconds = opts.quick ? 1 : 5;
  const rate = 1000;
  const connections = 20;
  const entry: Entry = hasBuild() ? 'build' : 'source';
  const children: ChildProcess[] = [];
  const pools: Pool[] = [];
  try {
    const peers = await startPeers();
    children.push(...peers.children);
    const p = peers.ports;
    const start = async (name: string, extra: string[]) => {
      const d = await startDoppel(entry, p.primary, p.slow, extra);
      children.push(d.child);
      const pool = pacedPool(d.url, connections);
      pools.push(pool);
      return { name, url: d.url, admin: d.admin, pool };
    };
    const targets = [await start('doppel shadow', []), await start('`--sample 0`', ['--sample', '0']), await start('`--sample 0` (A/A)', ['--sample', '0'])];
    const runs = await interleavedRuns(targets, { reps, seconds, rate, connections });
    const runsOf = (name: string) => runs.get(name) as DoppelRuns;
    const [shadow, off, offAA] = targets.map((t) => t.name) as [string, string, string];
    const perRepeat = (a: string, b: string, from: number, to: number) => {
      const xs = runsOf(a).p99.slice(from, to);
      const ys = runsOf(b).p99.slice(from, to);
      return median(xs.map((x, k) => x / Math.max(1e-3, ys[k] ?? Number.NaN)));
    };
    const pooledRatio = (a: string, b: string) => percentile(runsOf(a).latencies, 99) / percentile(runsOf(b).latencies, 99);
    const half = Math.floor(reps / 2);
    figures.set('slow_p99_vs_off', perRepeat(shadow, off, 0, reps));
    figures.set('slow_p99_vs_off_pooled', pooledRatio(shadow, off));
    figures.set('slow_p99_vs_aa_twin', perRepeat(shadow, offAA, 0, reps));
    figures.set('aa_p99_ratio', perRepeat(offAA, off, 0, reps));
    const rows = [
      [`${shadow} / ${off}`, fmt(perRepeat(shadow, off, 0, reps)), fmt(pooledRatio(shadow, off)), fmt(perRepeat(shadow, off, 0, half)), fmt(perRepeat(shadow, off, half, reps))],
      [`${shadow} / ${offAA}`, fmt(perRepeat(shadow, offAA, 0, reps)), fmt(pooledRatio(shadow, offAA)), fmt(perRepeat(shadow, offAA, 0, half)), fmt(perRepeat(shadow, offAA, half, reps))],
      [`A/A: ${offAA} / ${off}`, fmt(perRepeat(offAA, off, 0, reps)), fmt(pooledRatio(offAA, off)), fmt(perRepeat(offAA, off, 0, half)), fmt(perRepeat(offAA, off, half, reps))],
    ];
    const paths = targets.map((t) => [t.name, fmt(median(runsOf(t.name).p99), 2), fmt(percentile(runsOf(t.name).latencies, 99), 2), fmt(median(runsOf(t.name).gcOver1ms), 0)]);
    return [
      `Slow candidate (200 ms), defaults, ${rate} req/s evenly paced over ${connections} kept connections, ${reps} interleaved repeats of ${seconds} s per path; doppel from the ${entry === 'build' ? 'compiled build (dist/)' : 'TypeScript sources through tsx'}. Target: p99 doppel / \`--sample 0\` <= 1.1, read against the A/A row.\n`,
      table(['path', 'p99 ms (median of runs)', 'p99 ms (pooled)', 'GC pauses >= 1 ms per run'], paths),
      '',
      table(['p99 ratio', 'median of repeats', 'pooled', 'first half (median)', 'second half (median)'], rows),
    ].join('\n');
  } finally {
    await Promise.all(pools.map((pool) => pool.destroy()));
    for (const c of children.reverse()) await stop(c);
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(await runShadowBench({ quick: process.env.BENCH_QUICK === '1' }));
}
