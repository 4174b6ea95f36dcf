/**
 * HTTP/2 record proxy bench, side by side in one run, servers in their own
 * processes: h2load through `doppel record` over h2c (prior knowledge) and
 * over TLS (ALPN h2) to an h2c upstream, h2load straight at that upstream,
 * and the HTTP/1.1 record proxy under autocannon as the yardstick.
 *
 * The figure that matters is throughput per core: requests per CPU-second of
 * the doppel process (its CPU apart from the load generator's and the
 * upstream's), h2 against HTTP/1.1. Ratios are medians of interleaved rounds.
 * Needs h2load (Debian nghttp2-client); without it the bench says so and
 * sets no figure.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fmt, load, median, spawnServer, type Child } from './http-bench-load.js';
import { noFigures, type BenchFigures } from './results.js';

const run = promisify(execFile);

interface H2Result {
  rps: number;
  succeeded: number;
  failed: number;
}

/** One h2load run: `clients` connections with `streams` concurrent streams each, for `seconds`. */
async function h2load(url: string, o: { clients: number; streams: number; seconds: number }): Promise<H2Result> {
  const { stdout } = await run('h2load', ['-D', String(o.seconds), '-c', String(o.clients), '-m', String(o.streams), '-t', '1', url], { maxBuffer: 16 * 1024 * 1024 });
  const rps = /finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(stdout);
  const req = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(stdout);
  if (rps === null || req === null) throw new Error(`h2load output not understood:\n${stdout}`);
  return { rps: Number(rps[1]), succeeded: Number(req[1]), failed: Number(req[2]) + Number(req[3]) };
}

async function hasH2load(): Promise<boolean> {
  try {
    await run('h2load', ['--version']);
    return true;
  } catch {
    return false;
  }
}

export async function runHttp2Bench(opts: { quick: boolean; figures?: BenchFigures; progress?: (line: string) => void }): Promise<string> {
  const figures = opts.figures ?? noFigures;
  const log = opts.progress ?? ((s: string) => process.stderr.write(`${s}\n`));
  if (!(await hasH2load())) return 'h2load not found (apt-get install nghttp2-client): HTTP/2 bench skipped.\n';
  const rounds = opts.quick ? 1 : 3;
  const seconds = opts.quick ? 1 : 3;
  const h1Upstream = await spawnServer('upstream');
  const h2Upstream = await spawnServer('upstream-h2');
  const proxies: Record<string, Child> = {
    'doppel record, HTTP/1.1': await spawnServer('doppel', h1Upstream.url),
    'doppel record, h2c': await spawnServer('doppel', h2Upstream.url),
    'doppel record, h2 over TLS': await spawnServer('doppel-tls', h2Upstream.url),
  };
  const names = ['direct h2c', ...Object.keys(proxies)];
  const rps: Record<string, number[]> = {};
  const cpu: Record<string, number[]> = {};
  let failed = 0;
  // h2load: 8 connections x 16 streams; autocannon: 32 connections (its HTTP/1.1 peers keep one request each in flight)
  const shape = { clients: 8, streams: 16, seconds };
  const once = async (n: string): Promise<{ rps: number; total: number }> => {
    if (n === 'direct h2c') {
      const r = await h2load(h2Upstream.url, shape);
      failed += r.failed;
      return { rps: r.rps, total: r.succeeded };
    }
    const c = proxies[n] as Child;
    if (n.endsWith('HTTP/1.1')) {
      const r = await load(c.url, { connections: 32, duration: seconds });
      failed += r.errors + r.non2xx;
      return { rps: r.rps, total: r.total };
    }
    const r = await h2load(c.url, shape);
    failed += r.failed;
    return { rps: r.rps, total: r.succeeded };
  };
  try {
    for (const n of names) await once(n); // warm-up: JIT, upstream pools, TLS sessions
    for (let r = 0; r < rounds; r++) {
      for (const n of r % 2 === 0 ? names : [...names].reverse()) {
        const c = proxies[n];
        const before = c === undefined ? 0 : await c.cpuMicros();
        const res = await once(n);
        const after = c === undefined ? 0 : await c.cpuMicros();
        (rps[n] ??= []).push(res.rps);
        if (c !== undefined) (cpu[n] ??= []).push((after - before) / Math.max(1, res.total));
        log(`http2 round ${r + 1} ${n}: ${fmt(res.rps)} req/s${c === undefined ? '' : `, ${fmt(cpu[n]?.at(-1) ?? 0, 1)} µs CPU/request`}`);
      }
    }
  } finally {
    for (const c of Object.values(proxies)) await c.stop();
    await h1Upstream.stop();
    await h2Upstream.stop();
  }
  const perCore = (n: string) => 1e6 / Math.max(1e-9, median(cpu[n] ?? []));
  const h1 = 'doppel record, HTTP/1.1';
  const h2cRatio = perCore('doppel record, h2c') / perCore(h1);
  const tlsRatio = perCore('doppel record, h2 over TLS') / perCore(h1);
  figures.set('h2c_record_per_core_vs_h1_record', h2cRatio);
  figures.set('h2tls_record_per_core_vs_h1_record', tlsRatio);
  figures.set('h2c_record_rps_vs_direct', median(rps['doppel record, h2c'] ?? []) / Math.max(1e-9, median(rps['direct h2c'] ?? [])));
  figures.set('h2_failed', failed);
  if (failed > 0) figures.flag(`${failed} request(s) failed during the HTTP/2 bench`);
  let md = `### Record proxy over HTTP/2 (h2load: ${shape.clients} connections x ${shape.streams} streams; HTTP/1.1: autocannon, 32 connections; ${rounds} interleaved round(s) of ${seconds}s)\n\n`;
  md += '| path | req/s | CPU µs/request (doppel) | requests per CPU-second | vs HTTP/1.1 record per core |\n|---|---|---|---|---|\n';
  for (const n of names) {
    const hasCpu = cpu[n] !== undefined;
    md += `| ${n} | ${fmt(median(rps[n] ?? []))} | ${hasCpu ? fmt(median(cpu[n] ?? []), 1) : '—'} | ${hasCpu ? fmt(perCore(n)) : '—'} | ${hasCpu ? `${fmt(perCore(n) / perCore(h1), 2)}x` : '—'} |\n`;
  }
  md += `\nTarget: the h2 record proxy >= 0.8x the HTTP/1.1 record proxy's throughput per core. Failed requests: ${failed}.\n`;
  return md;
}
