/**
 * Soak: `doppel shadow` in front of a steady primary, teeing to a flaky
 * candidate (connection refusals in windows, hung requests, resets), at a
 * fixed rate for SOAK_SECONDS (default 600). It holds the promises that must
 * survive time, not just a burst:
 *   - zero primary failures: every client request is answered 2xx;
 *   - every copy is accounted for: judged copies (doppel_compare_total{mode="shadow"})
 *     plus dropped ones (doppel_shadow_dropped_total, any reason) equal the
 *     primary requests, read from the admin /metrics endpoint;
 *   - no leak: RSS and active handles of the doppel process are sampled every
 *     second, and their least-squares slopes after the warm-up stay under
 *     SOAK_MAX_RSS_SLOPE (bytes/s, default 64 KiB/s) and SOAK_MAX_HANDLE_SLOPE
 *     (handles/s, default 0.05).
 *
 * `npm run soak` (SOAK_SECONDS, SOAK_RATE default 100, SOAK_SEED, SOAK_ENTRY=src|dist)
 * prints the figures, writes bench/results/soak.json and exits 1 when a
 * promise is broken. A 60-second version runs in `npm test`
 * (test/integration/shadow-soak-60s-flaky-candidate.test.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { request } from 'undici';
import { pacedLoad } from './paced-load.js';
import { fmt, slope, table } from './stats.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DOPPEL_BIN = join(ROOT, 'bin', 'doppel.js');

export interface SoakOptions {
  seconds: number;
  /** requests per second, evenly paced */
  rate: number;
  seed: number;
  /** samples before this are the warm-up, left out of the slopes */
  warmupSeconds: number;
  maxRssSlope: number;
  maxHandleSlope: number;
  entry: 'src' | 'dist';
  /** shares of candidate requests that hang until doppel gives up, and that are reset */
  hangShare: number;
  resetShare: number;
  /** the candidate stops listening for refuseMs out of every refuseEveryMs */
  refuseEveryMs: number;
  refuseMs: number;
}

export interface SoakSample {
  t: number;
  rss: number;
  handles: number;
}

export interface SoakResult {
  options: SoakOptions;
  requests: number;
  primaryFailures: number;
  judged: number;
  dropped: Record<string, number>;
  /** primary requests minus judged minus dropped: zero when every copy is accounted for */
  unaccounted: number;
  candidate: { answered: number; hung: number; reset: number; refusalWindows: number };
  rssSlope: number;
  handleSlope: number;
  rssStart: number;
  rssEnd: number;
  samples: SoakSample[];
  /** each broken promise, in words; empty when the soak passed */
  failures: string[];
}

export function soakOptionsFromEnv(env: NodeJS.ProcessEnv, defaults: Partial<SoakOptions> = {}): SoakOptions {
  const num = (name: string, fallback: number): number => {
    const v = env[name];
    if (v === undefined || v === '') return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${name}=${v}: expected a non-negative number`);
    return n;
  };
  const seconds = num('SOAK_SECONDS', defaults.seconds ?? 600);
  const entry = env.SOAK_ENTRY ?? defaults.entry ?? 'src';
  if (entry !== 'src' && entry !== 'dist') throw new Error(`SOAK_ENTRY=${entry}: expected src or dist`);
  return {
    seconds,
    rate: num('SOAK_RATE', defaults.rate ?? 100),
    seed: num('SOAK_SEED', defaults.seed ?? 17),
    // Heaps grow to their working size first: slopes count only after it.
    warmupSeconds: num('SOAK_WARMUP_SECONDS', defaults.warmupSeconds ?? Math.min(60, Math.round(seconds / 4))),
    maxRssSlope: num('SOAK_MAX_RSS_SLOPE', defaults.maxRssSlope ?? 64 * 1024),
    maxHandleSlope: num('SOAK_MAX_HANDLE_SLOPE', defaults.maxHandleSlope ?? 0.05),
    entry,
    hangShare: defaults.hangShare ?? 0.02,
    resetShare: defaults.resetShare ?? 0.03,
    refuseEveryMs: defaults.refuseEveryMs ?? 7_000,
    refuseMs: defaults.refuseMs ?? 1_000,
  };
}

const BODY = JSON.stringify({ id: 42, items: [1, 2, 3], note: 'x'.repeat(200) });

function answer(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY) });
  res.end(BODY);
}

async function listen(server: Server, port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

interface FlakyCandidate {
  url: string;
  stats: SoakResult['candidate'];
  close(): Promise<void>;
}

/** A candidate that refuses connections in windows, hangs some requests and resets others, from a seeded sequence. */
async function startFlakyCandidate(o: SoakOptions): Promise<FlakyCandidate> {
  // Uniform integers, unbiased: fast-check otherwise leans towards edge values, and its
  // doubles are spread over the float range, not over [0, 1) evenly.
  const draws = fc.sample(fc.noBias(fc.integer({ min: 0, max: 999_999 })), { seed: o.seed, numRuns: 4096 }).map((n) => n / 1_000_000);
  let next = 0;
  const stats = { answered: 0, hung: 0, reset: 0, refusalWindows: 0 };
  const sockets = new Set<Socket>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    const r = draws[next++ % draws.length] as number;
    if (r < o.hangShare) {
      // Held until doppel's shadow.timeout gives up and closes the connection.
      stats.hung++;
      return;
    }
    if (r < o.hangShare + o.resetShare) {
      stats.reset++;
      req.socket.resetAndDestroy();
      return;
    }
    stats.answered++;
    answer(res);
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  const port = await listen(server);
  let isClosed = false;
  // Refusal windows: the listener closes (new connections get ECONNREFUSED) and comes back on the same port.
  const cycle = setInterval(() => {
    stats.refusalWindows++;
    server.close();
    for (const s of sockets) s.destroy();
    setTimeout(() => {
      if (!isClosed) void listen(server, port).catch(() => undefined);
    }, o.refuseMs).unref();
  }, o.refuseEveryMs);
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    async close() {
      isClosed = true;
      clearInterval(cycle);
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function startPrimary(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    answer(res);
  });
  server.keepAliveTimeout = 60_000;
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

interface Shadow {
  listen: string;
  admin: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

async function startShadow(primary: string, candidate: string, config: string, entry: 'src' | 'dist'): Promise<Shadow> {
  const child = spawn(
    process.execPath,
    [DOPPEL_BIN, 'shadow', '--config', config, '--listen', '127.0.0.1:0', '--primary', primary, '--candidate', candidate, '--admin', '127.0.0.1:0', '--log-level', 'warn'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DOPPEL_ENTRY: entry } },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const line = await new Promise<RegExpExecArray>((resolve, reject) => {
    const check = () => {
      const m = /listening on (\S+) .*admin (http:\/\/\S+)/.exec(stdout);
      if (m) resolve(m);
      else if (child.exitCode !== null) reject(new Error(`doppel shadow exited ${child.exitCode}: ${stderr}`));
      else setTimeout(check, 50);
    };
    check();
  });
  return {
    listen: `http://${line[1] as string}`,
    admin: line[2] as string,
    child,
    async stop() {
      if (child.exitCode === null) child.kill('SIGINT');
      await exited;
    },
  };
}

interface Scrape {
  rss: number;
  handles: number;
  judged: number;
  dropped: Record<string, number>;
}

/** The few series the soak reads from one Prometheus text scrape. */
export function readScrape(text: string): Scrape {
  const out: Scrape = { rss: NaN, handles: NaN, judged: 0, dropped: {} };
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith('process_resident_memory_bytes ')) out.rss = value;
    else if (line.startsWith('nodejs_active_handles_total ')) out.handles = value;
    else if (line.startsWith('doppel_compare_total{') && line.includes('mode="shadow"')) out.judged += value;
    else if (line.startsWith('doppel_shadow_dropped_total{')) {
      const reason = /reason="([^"]*)"/.exec(line)?.[1] ?? 'unknown';
      out.dropped[reason] = (out.dropped[reason] ?? 0) + value;
    }
  }
  return out;
}

async function scrape(admin: string): Promise<Scrape> {
  const r = await request(`${admin}/metrics`);
  return readScrape(await r.body.text());
}

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

export async function runSoak(o: SoakOptions, log: (line: string) => void = () => undefined): Promise<SoakResult> {
  const work = await mkdtemp(join(tmpdir(), 'doppel-soak-'));
  const config = join(work, 'doppel.yaml');
  // A hung copy holds an in-flight slot until shadow.timeout: short, so hangs cost slots briefly, as a real deadline would.
  await writeFile(config, 'shadow:\n  timeout: 500ms\n  drain_timeout: 2s\n');
  const primary = await startPrimary();
  const candidate = await startFlakyCandidate(o);
  const shadow = await startShadow(primary.url, candidate.url, config, o.entry);
  const samples: SoakSample[] = [];
  const t0 = performance.now();
  const sampler = setInterval(() => {
    const t = (performance.now() - t0) / 1000;
    scrape(shadow.admin).then(
      (s) => samples.push({ t, rss: s.rss, handles: s.handles }),
      () => undefined,
    );
  }, 1000);
  try {
    log(`soak: ${o.seconds} s at ${o.rate} req/s, candidate hangs ${o.hangShare * 100}% resets ${o.resetShare * 100}%, refuses ${o.refuseMs} ms every ${o.refuseEveryMs} ms`);
    const load = await pacedLoad(shadow.listen, { rate: o.rate, seconds: o.seconds, connections: 16, path: '/orders/42' });
    clearInterval(sampler);
    const requests = Math.round(o.rate * o.seconds);
    const answered = requests - load.errors - load.unanswered;
    // Copies still in flight settle within shadow.timeout; wait for the books to balance, bounded.
    let last = await scrape(shadow.admin);
    const settleBy = performance.now() + 15_000;
    while (last.judged + sum(last.dropped) < answered && performance.now() < settleBy) {
      await new Promise((r) => setTimeout(r, 250));
      last = await scrape(shadow.admin);
    }
    const steady = samples.filter((s) => s.t >= o.warmupSeconds && Number.isFinite(s.rss));
    const rssSlope = slope(steady.map((s) => s.t), steady.map((s) => s.rss));
    const handleSlope = slope(steady.map((s) => s.t), steady.map((s) => s.handles));
    const unaccounted = answered - last.judged - sum(last.dropped);
    const failures: string[] = [];
    const primaryFailures = load.errors + load.unanswered;
    if (primaryFailures > 0) failures.push(`${primaryFailures} primary requests failed (${load.errors} errors, ${load.unanswered} unanswered)`);
    if (unaccounted !== 0) failures.push(`${unaccounted} copies neither judged nor counted as dropped`);
    if (!(rssSlope <= o.maxRssSlope)) failures.push(`RSS slope ${fmt(rssSlope)} B/s over the bound ${o.maxRssSlope} B/s`);
    if (!(handleSlope <= o.maxHandleSlope)) failures.push(`handle slope ${handleSlope.toFixed(4)}/s over the bound ${o.maxHandleSlope}/s`);
    return {
      options: o,
      requests,
      primaryFailures,
      judged: last.judged,
      dropped: last.dropped,
      unaccounted,
      candidate: { ...candidate.stats },
      rssSlope,
      handleSlope,
      rssStart: steady[0]?.rss ?? NaN,
      rssEnd: steady[steady.length - 1]?.rss ?? NaN,
      samples,
      failures,
    };
  } finally {
    clearInterval(sampler);
    await shadow.stop();
    await candidate.close();
    await primary.close();
    await rm(work, { recursive: true, force: true });
  }
}

export function describeSoak(r: SoakResult): string {
  const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MB`;
  const rows: string[][] = [
    ['primary requests', String(r.requests)],
    ['primary failures', String(r.primaryFailures)],
    ['copies judged', String(r.judged)],
    ['copies dropped', Object.entries(r.dropped).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ') || '0'],
    ['unaccounted copies', String(r.unaccounted)],
    ['candidate answered / hung / reset / refusal windows', `${r.candidate.answered} / ${r.candidate.hung} / ${r.candidate.reset} / ${r.candidate.refusalWindows}`],
    [`RSS after warm-up (${r.options.warmupSeconds} s), first → last`, `${mb(r.rssStart)} → ${mb(r.rssEnd)}`],
    ['RSS slope', `${fmt(r.rssSlope / 1024)} KiB/s (bound ${fmt(r.options.maxRssSlope / 1024)})`],
    ['active handles slope', `${r.handleSlope.toFixed(4)} /s (bound ${r.options.maxHandleSlope})`],
  ];
  return `${table(['soak', 'figure'], rows)}\n${r.failures.length === 0 ? 'PASS' : `FAIL\n${r.failures.map((f) => `  - ${f}`).join('\n')}`}`;
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  let o: SoakOptions;
  try {
    o = soakOptionsFromEnv(process.env);
  } catch (err) {
    process.stderr.write(`soak: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const r = await runSoak(o, (l) => process.stdout.write(`${l}\n`));
  process.stdout.write(`${describeSoak(r)}\n`);
  const { samples, ...figures } = r;
  await writeFile(join(ROOT, 'bench', 'results', 'soak.json'), `${JSON.stringify({ ...figures, sampleCount: samples.length }, null, 2)}\n`);
  process.exitCode = r.failures.length === 0 ? 0 : 1;
}
