/**
 * HTTP benches, side by side in one run, servers in their own processes:
 *
 * 1. record proxy (recording on) vs bare @fastify/http-proxy vs a plain Node
 *    http proxy vs direct, at saturation and at a fixed rate;
 * 2. HTTP mock vs WireMock standalone (npm `wiremock`, Java) vs a bare Node
 *    server answering the same bytes, 1,000 recorded stubs;
 * 3. mock lookup time at 100k recorded exchanges vs 1k, and RSS with 100k loaded;
 * 4. mock miss storms: a miss's cost beside a hit's, 1,001 recordings loaded.
 *
 * Ratios are medians of interleaved rounds. `tsx bench/http.bench.ts` runs it
 * alone; BENCH_QUICK=1 for a smoke run; HTTP_BENCH_ONLY=proxy|scale|miss for one part.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { request } from 'undici';
import { HttpMockIndex } from '../src/mock/http-mock-index.js';
import { buildKeyOptions, parseRequest } from '../src/mock/http-request-key.js';
import { createFileStoreWriter } from '../src/store/file-store.js';
import { benchExchanges, benchPath } from './http-bench-data.js';
import { benchDir as here, fmt, freePort, load, median, repoRoot as root, spawnServer, type Child, type LoadResult } from './http-bench-load.js';
import { missBench } from './http-miss-bench.js';
import { pacedLoad, pacedPool } from './paced-load.js';
import { noFigures, type BenchFigures } from './results.js';

export interface HttpBenchOptions {
  quick?: boolean;
  figures?: BenchFigures;
  /** log progress lines to stderr */
  progress?: (line: string) => void;
}

/** The record proxy's own counts, after a flush: a run that kept up by dropping exchanges has no fair figure. */
function recorderCounts(c: Child): Promise<{ recorded: number; dropped: number }> {
  return new Promise((resolve) => {
    const on = (m: { recorded?: { recorded: number; dropped: number } }) => {
      if (!m.recorded) return;
      c.child.off('message', on);
      resolve(m.recorded);
    };
    c.child.on('message', on);
    c.child.send('recorded');
  });
}

interface Mem {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

/** A server's process.memoryUsage(), over IPC. */
function memOf(c: Child): Promise<Mem> {
  return new Promise((resolve) => {
    const on = (m: { mem?: Mem }) => {
      if (!m.mem) return;
      c.child.off('message', on);
      resolve(m.mem);
    };
    c.child.on('message', on);
    c.child.send('mem');
  });
}

async function proxyBench(o: { quick: boolean; log: (s: string) => void; figures: BenchFigures }): Promise<string> {
  // Five interleaved rounds at least: the targets are medians of paired rounds.
  const rounds = o.quick ? 1 : 5;
  const dur = o.quick ? 1 : 3;
  const rate = Number(process.env.BENCH_RATE ?? 500);
  const upstream = await spawnServer('upstream');
  const variants: Record<string, Child | undefined> = {
    direct: undefined,
    'node http proxy': await spawnServer('node', upstream.url),
    '@fastify/http-proxy': await spawnServer('fastify', upstream.url),
    'doppel record': await spawnServer('doppel', upstream.url),
    'doppel, recording off': await spawnServer('doppel-off', upstream.url),
  };
  const urlOf = (name: string) => variants[name]?.url ?? upstream.url;
  const names = Object.keys(variants);
  const sat: Record<string, LoadResult[]> = {};
  const fixed: Record<string, LoadResult[]> = {};
  const cpu: Record<string, number[]> = {};
  /** memory right after each saturation round: steady state under load */
  const mem: Record<string, Mem[]> = {};
  /** responses the load generator got through each proxy, warm-up included */
  const answered: Record<string, number> = {};
  let counts: { recorded: number; dropped: number };
  // Kept across rounds, so the fixed-rate runs measure the path and not connection set-up.
  const pools = new Map(names.map((n) => [n, pacedPool(urlOf(n), 16)]));
  try {
    // warm every path (JIT, connection pools)
    for (const n of names) answered[n] = (await load(urlOf(n), { connections: 32, duration: 1 })).total;
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? names : [...names].reverse();
      for (const n of order) {
        const c = variants[n];
        const before = c ? await c.cpuMicros() : 0;
        const s = await load(urlOf(n), { connections: 32, duration: dur });
        const after = c ? await c.cpuMicros() : 0;
        (sat[n] ??= []).push(s);
        if (c) (cpu[n] ??= []).push((after - before) / Math.max(1, s.total));
        if (c) (mem[n] ??= []).push(await memOf(c));
        // The fixed-rate figure is the latency at a steady moderate load, not the saturation run's
        // aftermath: every variant gets the same pause first. 4 s at 500/s puts 20 requests beyond p99.
        // Evenly paced and timed from each request's due time (paced-load.ts): autocannon's fixed
        // rate sends each second's requests as one burst and reports whole milliseconds.
        await new Promise((r) => setTimeout(r, 500));
        const p = await pacedLoad(urlOf(n), { rate, seconds: o.quick ? 1 : 4, connections: 16, path: '/items/1', pool: pools.get(n) });
        (fixed[n] ??= []).push({ rps: p.rps, p50: p.p50, p99: p.p99, total: p.latencies.length, errors: p.errors + p.unanswered, non2xx: 0 });
        answered[n] = (answered[n] ?? 0) + s.total + (fixed[n]?.at(-1)?.total ?? 0);
        o.log(`proxy round ${r + 1} ${n}: ${fmt(s.rps)} req/s, p99@${rate}/s ${fmt(fixed[n]?.at(-1)?.p99 ?? 0, 2)} ms`);
      }
    }
    counts = await recorderCounts(variants['doppel record'] as Child);
  } finally {
    for (const p of pools.values()) await p.destroy();
    for (const c of Object.values(variants)) await c?.stop();
    await upstream.stop();
  }
  const base = '@fastify/http-proxy';
  const ratioTo = (b: string, n: string, f: (x: LoadResult) => number, set: Record<string, LoadResult[]>) =>
    median((set[n] ?? []).map((x, i) => f(x) / Math.max(1e-9, f((set[b] ?? [])[i] as LoadResult))));
  const ratio = (n: string, f: (x: LoadResult) => number, set: Record<string, LoadResult[]>) => ratioTo(base, n, f, set);
  const memMb = (n: string, f: (m: Mem) => number) => median((mem[n] ?? []).map(f)) / 1048576;
  // floored so a round whose p99 rounds to 0 cannot divide by it
  const p99 = (x: LoadResult) => Math.max(x.p99, 0.01);
  let md = `### Record proxy (small JSON responses; saturation: 32 connections; fixed rate: ${rate} req/s evenly paced, latency from each request's due time; ${rounds} interleaved round(s) of ${dur}s)\n\n`;
  md += '| proxy | req/s at saturation | ratio vs @fastify/http-proxy | p99 ms at fixed rate | p99 ratio | CPU µs/request | RSS MB (heap used / external) under load | errors |\n|---|---|---|---|---|---|---|---|\n';
  for (const n of names) {
    const memCell = mem[n] ? `${fmt(memMb(n, (m) => m.rss))} (${fmt(memMb(n, (m) => m.heapUsed))} / ${fmt(memMb(n, (m) => m.external))})` : '—';
    md += `| ${n} | ${fmt(median((sat[n] ?? []).map((x) => x.rps)))} | ${fmt(ratio(n, (x) => x.rps, sat), 2)}x | ${fmt(median((fixed[n] ?? []).map((x) => x.p99)), 2)} | ${fmt(ratio(n, p99, fixed), 2)}x | ${cpu[n] ? fmt(median(cpu[n]), 1) : '—'} | ${memCell} | ${(sat[n] ?? []).reduce((s, x) => s + x.errors + x.non2xx, 0)} |\n`;
  }
  const recordAnswered = answered['doppel record'] ?? 0;
  o.figures.set('record_rps_vs_fastify_proxy', ratio('doppel record', (x) => x.rps, sat));
  o.figures.set('record_p99_vs_fastify_proxy', ratio('doppel record', p99, fixed));
  // The targets: recording on, at least the plain Node proxy's throughput, p99 within 1.1x of it.
  const plainNode = 'node http proxy';
  o.figures.set('record_rps_vs_node_proxy', ratioTo(plainNode, 'doppel record', (x) => x.rps, sat));
  o.figures.set('record_p99_vs_node_proxy', ratioTo(plainNode, 'doppel record', p99, fixed));
  o.figures.set(
    'record_cpu_us_vs_node_proxy',
    median((cpu['doppel record'] ?? []).map((x, i) => x / Math.max(1e-9, (cpu[plainNode] ?? [])[i] ?? NaN))),
  );
  o.figures.set('record_rss_vs_fastify_proxy', memMb('doppel record', (m) => m.rss) / memMb(base, (m) => m.rss));
  o.figures.set('record_rss_mb', memMb('doppel record', (m) => m.rss));
  o.figures.set('record_heap_used_mb', memMb('doppel record', (m) => m.heapUsed));
  o.figures.set('record_external_mb', memMb('doppel record', (m) => m.external));
  o.figures.set('record_rps', median((sat['doppel record'] ?? []).map((x) => x.rps)));
  o.figures.set('record_answered', recordAnswered);
  o.figures.set('record_recorded', counts.recorded);
  o.figures.set('record_dropped', counts.dropped);
  if (counts.dropped > 0) o.figures.flag(`doppel record dropped ${counts.dropped} exchange(s): its throughput was bought by not recording`);
  if (counts.recorded < recordAnswered) o.figures.flag(`doppel record wrote ${counts.recorded} exchange(s) for ${recordAnswered} answered request(s)`);
  md += `\ndoppel record wrote ${counts.recorded} exchange(s) and dropped ${counts.dropped} for ${recordAnswered} answered request(s)${counts.dropped > 0 ? ' (DROPS: its figures are not a fair comparison)' : ''}.\n`;
  md += `\nAgainst the plain Node http proxy (same forwarding, no recording): throughput ${fmt(ratioTo(plainNode, 'doppel record', (x) => x.rps, sat), 2)}x, p99 ${fmt(ratioTo(plainNode, 'doppel record', p99, fixed), 2)}x (medians of each round's ratio).\n`;
  md += '\nTargets, recording on: throughput >= 1.0x the plain Node http proxy, p99 <= 1.1x; RSS under load <= 1.2x @fastify/http-proxy. CPU and memory are the proxy process only (upstream apart).\n';
  return md;
}

async function startWireMock(paths: string[], log: (s: string) => void): Promise<Child | undefined> {
  const jar = join(root, 'node_modules', 'wiremock', 'build', 'wiremock-standalone-3.13.2.jar');
  if (!existsSync(jar)) {
    log('wiremock jar not found: skipping WireMock');
    return undefined;
  }
  const port = await freePort();
  const child = spawn('java', ['-jar', jar, '--port', String(port), '--bind-address', '127.0.0.1', '--disable-banner', '--no-request-journal'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const r = await request(`${url}/__admin/health`);
      await r.body.text();
      if (r.statusCode === 200) break;
    } catch {
      /* not up yet */
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      log('wiremock did not start: skipping WireMock');
      child.kill();
      return undefined;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const ex = [...benchExchanges(paths.length)];
  const mappings = ex.map((e) => ({
    request: { method: 'GET', url: e.http.request.url },
    response: { status: 200, body: e.http.response?.body, headers: { 'Content-Type': 'application/json' } },
  }));
  const imp = await request(`${url}/__admin/mappings/import`, { method: 'POST', body: JSON.stringify({ mappings }), headers: { 'content-type': 'application/json' } });
  await imp.body.text();
  return {
    url,
    child,
    cpuMicros: async () => 0,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

async function mockBench(o: { quick: boolean; log: (s: string) => void; figures: BenchFigures }): Promise<string> {
  const rounds = o.quick ? 1 : 3;
  const dur = o.quick ? 1 : 2;
  const n = 1000;
  const paths = Array.from({ length: n }, (_, i) => benchPath(i));
  const variants: Record<string, Child | undefined> = {
    'doppel mock': await spawnServer('mock-doppel', String(n)),
    'bare node http': await spawnServer('mock-node', String(n)),
  };
  const wm = await startWireMock(paths, o.log);
  if (wm) variants.WireMock = wm;
  const res: Record<string, LoadResult[]> = {};
  try {
    if (wm) await load(wm.url, { connections: 32, duration: o.quick ? 2 : 5, paths }); // JVM warm-up
    for (const c of Object.values(variants)) if (c) await load(c.url, { connections: 32, duration: o.quick ? 1 : 2, paths });
    const names = Object.keys(variants);
    for (let r = 0; r < rounds; r++) {
      for (const name of r % 2 === 0 ? names : [...names].reverse()) {
        const c = variants[name] as Child;
        const s = await load(c.url, { connections: 32, duration: dur, paths });
        (res[name] ??= []).push(s);
        o.log(`mock round ${r + 1} ${name}: ${fmt(s.rps)} req/s`);
      }
    }
  } finally {
    for (const c of Object.values(variants)) await c?.stop();
  }
  const ratioTo = (name: string, base: string) =>
    res[base] ? median((res[name] ?? []).map((x, i) => x.rps / Math.max(1e-9, ((res[base] ?? [])[i] as LoadResult).rps))) : NaN;
  o.figures.set('mock_rps_vs_bare_node', ratioTo('doppel mock', 'bare node http'));
  if (wm) o.figures.set('mock_rps_vs_wiremock', ratioTo('doppel mock', 'WireMock'));
  let md = `### HTTP mock (1,000 recorded GET stubs, 32 connections, ${rounds} interleaved round(s) of ${dur}s)\n\n`;
  md += '| server | req/s | p99 ms | doppel ratio vs this | errors |\n|---|---|---|---|---|\n';
  for (const name of Object.keys(res)) {
    const r = res[name] ?? [];
    md += `| ${name} | ${fmt(median(r.map((x) => x.rps)))} | ${fmt(median(r.map((x) => x.p99)), 1)} | ${name === 'doppel mock' ? '—' : fmt(ratioTo('doppel mock', name), 2) + 'x'} | ${r.reduce((s, x) => s + x.errors + x.non2xx, 0)} |\n`;
  }
  if (!wm) md += '\nWireMock was not measured (jar missing or Java did not start).\n';
  md += '\nTargets: >= 1.5x WireMock, >= 0.7x the bare Node server.\n';
  return md;
}

let gcFn: (() => void) | undefined;
function collect(): void {
  if (gcFn === undefined) {
    setFlagsFromString('--expose_gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
}

interface LookupSubject {
  index: HttpMockIndex;
  urls: string[];
}

function lookupSubject(size: number): LookupSubject {
  const index = new HttpMockIndex(buildKeyOptions({}));
  for (const ex of benchExchanges(size)) index.add(ex);
  return { index, urls: Array.from({ length: 1024 }, (_, i) => benchPath((i * 7919) % size)) };
}

function lookupNs(subject: LookupSubject, iterations: number): number {
  const { index, urls } = subject;
  const headers = ['host', 'payments.internal', 'accept', 'application/json'];
  const empty = Buffer.alloc(0);
  // Garbage and marking work left by earlier steps must not be timed as lookup.
  collect();
  for (let i = 0; i < 20_000; i++) index.lookup(parseRequest({ method: 'GET', url: urls[i & 1023] as string, headers, body: empty }), undefined);
  let hits = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    const req = parseRequest({ method: 'GET', url: urls[i & 1023] as string, headers, body: empty });
    if (index.lookup(req, undefined) !== undefined) hits++;
  }
  const ns = Number(process.hrtime.bigint() - t0) / iterations;
  if (hits !== iterations) throw new Error(`lookup missed ${iterations - hits} times`);
  return ns;
}

async function scaleBench(o: { quick: boolean; log: (s: string) => void; figures?: BenchFigures }): Promise<string> {
  const figures = o.figures ?? noFigures;
  const big = o.quick ? 20_000 : 100_000;
  const iterations = o.quick ? 100_000 : 300_000;
  const small: number[] = [];
  const large: number[] = [];
  const s1k = lookupSubject(1000);
  const sBig = lookupSubject(big);
  for (let r = 0; r < 5; r++) {
    small.push(lookupNs(s1k, iterations));
    large.push(lookupNs(sBig, iterations));
  }
  const ratio = median(large.map((l, i) => l / (small[i] as number)));
  figures.set('lookup_large_vs_1k', ratio);
  o.log(`lookup 1k ${fmt(median(small))} ns, ${big} ${fmt(median(large))} ns`);

  const dir = await mkdtemp(join(tmpdir(), 'doppel-bench-rss-'));
  let rssLine: string;
  try {
    const writer = await createFileStoreWriter({ dir, segmentBytes: 1024 * 1024 * 1024 });
    for (const ex of benchExchanges(big)) void writer.append(ex);
    await writer.close();
    let ndjson = 0;
    for (const f of await readdir(dir)) if (f.endsWith('.ndjson')) ndjson += (await stat(join(dir, f))).size;
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', join(here, 'http-bench-rss.ts'), dir], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const out = await new Promise<string>((resolve) => {
      let b = '';
      child.stdout.on('data', (d: Buffer) => (b += d.toString()));
      child.once('exit', () => resolve(b));
    });
    const m = JSON.parse(out.trim().split('\n').pop() as string) as { before: number; after: number; loaded: number };
    const mb = (x: number) => fmt(x / 1048576, 1);
    figures.set('mock_rss_loaded_vs_ndjson', (m.after - m.before) / ndjson);
    rssLine = `| RSS with ${m.loaded} exchanges loaded | ${mb(m.after)} MiB whole process (${mb(m.before)} MiB before loading), ${mb(m.after - m.before)} MiB for the loaded exchanges | NDJSON ${mb(ndjson)} MiB | ${fmt((m.after - m.before) / ndjson, 2)}x (loaded) / ${fmt(m.after / ndjson, 2)}x (whole process) | <= 2x |\n`;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  let md = '### Mock lookup scaling and memory\n\n| measure | value | baseline | ratio | target |\n|---|---|---|---|---|\n';
  md += `| lookup (parse + index) at ${big} exchanges | ${fmt(median(large))} ns | ${fmt(median(small))} ns at 1,000 | ${fmt(ratio, 2)}x | <= 1.2x |\n`;
  md += rssLine;
  return md;
}

/** Only the miss-storm measures: HTTP_BENCH_ONLY=miss. */
export async function runHttpMissBench(opts: HttpBenchOptions = {}): Promise<string> {
  return missBench({ quick: opts.quick ?? process.env.BENCH_QUICK === '1', log: opts.progress ?? ((s: string) => process.stderr.write(`${s}\n`)) });
}

/** Only the record proxy against its baselines: HTTP_BENCH_ONLY=proxy. */
export async function runHttpProxyBench(opts: HttpBenchOptions = {}): Promise<string> {
  return proxyBench({
    quick: opts.quick ?? process.env.BENCH_QUICK === '1',
    log: opts.progress ?? ((s: string) => process.stderr.write(`${s}\n`)),
    figures: opts.figures ?? noFigures,
  });
}

/** Only the in-process lookup and memory measures (no load generator): HTTP_BENCH_ONLY=scale. */
export async function runHttpScaleBench(opts: HttpBenchOptions = {}): Promise<string> {
  return scaleBench({ quick: opts.quick ?? process.env.BENCH_QUICK === '1', log: opts.progress ?? ((s: string) => process.stderr.write(`${s}\n`)) });
}

export async function runHttpBench(opts: HttpBenchOptions = {}): Promise<string> {
  const quick = opts.quick ?? process.env.BENCH_QUICK === '1';
  const log = opts.progress ?? ((s: string) => process.stderr.write(`${s}\n`));
  const figures = opts.figures ?? noFigures;
  const parts = [
    ...(quick ? ['(BENCH_QUICK smoke run: one short round, 20k exchanges for scaling)\n'] : []),
    await proxyBench({ quick, log, figures }),
    await mockBench({ quick, log, figures }),
    await scaleBench({ quick, log, figures }),
    await missBench({ quick, log }),
  ];
  return parts.join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const only = process.env.HTTP_BENCH_ONLY;
  (only === 'scale' ? runHttpScaleBench() : only === 'miss' ? runHttpMissBench() : only === 'proxy' ? runHttpProxyBench() : runHttpBench()).then(
    (md) => process.stdout.write(md + '\n'),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
