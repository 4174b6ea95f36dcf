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
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { fmt, median, table } from './stats.js';

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
/** The compiled build (what production runs) and the TypeScript sources through tsx (what `npx doppel` runs before a build). */
const ENTRIES = {
  build: [join(ROOT, 'dist', 'main.js')],
  source: ['--import', 'tsx', join(ROOT, 'src', 'main.ts')],
} as const;
type Entry = keyof typeof ENTRIES;
const hasBuild = () => existsSync(join(ROOT, 'dist', 'main.js'));

/** Primary and candidates in one child process, so their CPU is not the load generator's. */
const PEERS_SOURCE = `
import { createServer } from 'node:http';
const body = JSON.stringify({ id: 42, items: [1, 2, 3], note: 'x'.repeat(200) });
const answer = (res) => { res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }); res.end(body); };
const listen = (handler) => new Promise((r) => { const s = createServer(handler); s.keepAliveTimeout = 60000; s.listen(0, '127.0.0.1', () => r(s.address().port)); });
const primary = await listen((req, res) => { req.resume(); req.on('end', () => answer(res)); });
const fast = await listen((req, res) => { req.resume(); req.on('end', () => answer(res)); });
const slow = await listen((req, res) => { req.resume(); req.on('end', () => setTimeout(() => answer(res), 200)); });
const held = await listen((req) => { req.resume(); });
process.stdout.write(JSON.stringify({ primary, fast, slow, held }) + '\\n');
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

async function startPeers(): Promise<{ ports: Ports; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', PEERS_SOURCE], { stdio: ['ignore', 'pipe', 'pipe'] });
  const m = await firstLine(child, /(\{.*\})\n/, 'peers');
  return { ports: JSON.parse(m[1] as string) as Ports, child };
}

async function startDoppel(entry: Entry, primary: number, candidate: number, extra: string[] = []): Promise<{ url: string; admin: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [...ENTRIES[entry], 'shadow', '--listen', '127.0.0.1:0', '--primary', `http://127.0.0.1:${primary}`, '--candidate', `http://127.0.0.1:${candidate}`, '--admin', '127.0.0.1:0', '--log-level', 'warn', ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT },
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
  p99: number;
  errors: number;
}

async function load(url: string, opts: { seconds: number; rate: number | undefined; connections: number }): Promise<LoadResult> {
  const r = await autocannon({
    url: `${url}/orders/42`,
    connections: opts.connections,
    duration: opts.seconds,
    ...(opts.rate === undefined ? {} : { overallRate: opts.rate }),
  });
  return { rps: r.requests.average, p99: r.latency.p99, errors: r.errors + r.non2xx + r.timeouts };
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

export async function runShadowBench(opts: { quick: boolean }): Promise<string> {
  const seconds = opts.quick ? 1 : 3;
  const reps = opts.quick ? 1 : 2;
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
    children.push(peers.child);
    const p = peers.ports;
    const deadPort = await freePort();
    const scenarios = [
      { name: 'fast candidate', port: p.fast },
      { name: 'slow candidate (200 ms)', port: p.slow },
      { name: 'dead candidate (refused)', port: deadPort },
    ];
    const doppelOff = await startDoppel(entry, p.primary, p.slow, ['--sample', '0']);
    children.push(doppelOff.child);
    const rows: string[][] = [];
    for (const sc of scenarios) {
      const doppel = await startDoppel(entry, p.primary, sc.port);
      children.push(doppel.child);
      const nginx = nginxBin === undefined ? undefined : await startNginx(nginxBin, p.primary, sc.port);
      if (nginx) {
        children.push(nginx.child);
        dirs.push(nginx.dir);
      }
      const targets: Array<[string, string]> = [
        ['direct', `http://127.0.0.1:${p.primary}`],
        ...(nginx ? [['nginx mirror', nginx.url] as [string, string]] : []),
        ['doppel shadow', doppel.url],
        ['doppel off', doppelOff.url],
      ];
      // warm-up: JIT, keep-alive pools
      for (const [, url] of targets) await load(url, { seconds: 1, rate, connections });
      const results = new Map<string, LoadResult[]>(targets.map(([n]) => [n, []]));
      for (let r = 0; r < reps; r++) {
        for (const [name, url] of targets) results.get(name)?.push(await load(url, { seconds, rate, connections }));
      }
      const med = (name: string, key: keyof LoadResult) => median((results.get(name) ?? []).map((x) => x[key]));
      for (const [name] of targets) {
        rows.push([sc.name, name, fmt(med(name, 'rps'), 0), fmt(med(name, 'p99'), 1), String(med(name, 'errors'))]);
      }
      const ratioNginx = nginx ? fmt(med('doppel shadow', 'rps') / med('nginx mirror', 'rps')) : 'n/a';
      rows.push([sc.name, '**doppel / nginx rps**', ratioNginx, `p99 doppel / doppel off: ${fmt(med('doppel shadow', 'p99') / Math.max(0.001, med('doppel off', 'p99')))}`, '']);
      await stop(doppel.child);
      if (nginx) await stop(nginx.child);
    }
    out.push(`Fixed rate ${rate} req/s offered over ${connections} keep-alive connections (autocannon), ${seconds} s per run, ${reps} interleaved repeat(s), medians; doppel from the ${entry === 'build' ? 'compiled build (dist/)' : 'TypeScript sources through tsx (no build: run `npm run build` to bench the build)'}.${nginxBin ? '' : ' nginx not found: compared against direct and doppel off only.'}\n`);
    out.push(table(['scenario', 'path', 'req/s', 'p99 ms', 'errors'], rows));

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
      floodRows.push([e === 'build' ? 'build (node dist/main.js)' : 'source (tsx)', fmt(fl.rps, 0), fmt(before / 1024, 0), fmt(maxRss / 1024, 0), fmt(after / 1024, 0), dropped, String(fl.errors)]);
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

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(await runShadowBench({ quick: process.env.BENCH_QUICK === '1' }));
}
