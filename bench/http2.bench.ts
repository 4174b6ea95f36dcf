/**
 * HTTP/2 record proxy bench, side by side in one run, servers in their own
 * processes: h2load through `doppel record` over h2c (prior knowledge) and
 * over TLS (ALPN h2) to an h2c upstream, h2load straight at that upstream,
 * and the HTTP/1.1 record proxy under autocannon as the yardstick.
 *
 * The figure that matters is throughput per core: requests per CPU-second of
 * the doppel process (its CPU apart from the load generator's and the
 * upstream's), h2 against HTTP/1.1. Ratios are medians of interleaved rounds.
 * nginx (one worker, `listen … http2`, HTTP/1.1 keep-alive upstream) is the
 * outside yardstick where the binary exists. TLS handshakes per second are
 * h2load runs of one request per connection, through doppel and straight at
 * a Node h2 TLS server.
 * Needs h2load (Debian nghttp2-client); without it the bench says so and
 * sets no figure.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fmt, load, median, spawnServer, type Child } from './http-bench-load.js';
import { hasNginx, startNginxH2cProxy } from './nginx-proxy.js';
import { noFigures, type BenchFigures } from './results.js';

const run = promisify(execFile);

interface H2Result {
  rps: number;
  succeeded: number;
  failed: number;
}

/** One h2load run: `clients` connections with `streams` concurrent streams each, for `seconds` (or `requests` in all). */
async function h2load(url: string, o: { clients: number; streams: number; seconds: number; requests?: number }): Promise<H2Result> {
  const length = o.requests === undefined ? ['-D', String(o.seconds)] : ['-n', String(o.requests)];
  const { stdout } = await run('h2load', [...length, '-c', String(o.clients), '-m', String(o.streams), '-t', '1', url], { maxBuffer: 16 * 1024 * 1024 });
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
    // what TLS alone costs, so the h2-over-TLS figure can be told apart from it
    'doppel record, HTTP/1.1 over TLS': await spawnServer('doppel-tls', h1Upstream.url),
    // the floor any Node HTTP/2 proxy starts from: stream API both ways, nothing recorded
    'plain Node h2c proxy': await spawnServer('node-h2', h2Upstream.url),
  };
  // h2 over TLS on both sides: the upstream session doppel opens itself (ALPN h2 to the origin)
  const tlsDirect = await spawnServer('upstream-h2-tls');
  proxies['doppel record, h2 over TLS both ways'] = await spawnServer('doppel-tls', tlsDirect.url);
  const nginxFound = await hasNginx();
  if (nginxFound) proxies['nginx h2c proxy (1 worker)'] = await startNginxH2cProxy(h1Upstream.url);
  const names = ['direct h2c', ...Object.keys(proxies)];
  const handshakes: Record<string, number[]> = {};
  const handshakeCpu: number[] = [];
  const handshakeShape = { clients: 100, streams: 1, seconds: 0, requests: 100 };
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
    if (n.includes('HTTP/1.1')) {
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
      // a fresh connection, hence a full TLS handshake, for every request
      const tlsProxy = proxies['doppel record, h2 over TLS'] as Child;
      for (const [n, url] of r % 2 === 0 ? ([['direct', tlsDirect.url], ['doppel', tlsProxy.url]] as const) : ([['doppel', tlsProxy.url], ['direct', tlsDirect.url]] as const)) {
        const before = n === 'doppel' ? await tlsProxy.cpuMicros() : 0;
        const res = await h2load(url, handshakeShape);
        failed += res.failed;
        if (n === 'doppel') handshakeCpu.push((await tlsProxy.cpuMicros()) - before);
        (handshakes[n] ??= []).push(res.rps);
        log(`http2 round ${r + 1} TLS handshakes ${n}: ${fmt(res.rps)}/s`);
      }
    }
  } finally {
    await tlsDirect.stop();
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
  figures.set('h2tls_record_per_core_vs_h1tls_record', perCore('doppel record, h2 over TLS') / perCore('doppel record, HTTP/1.1 over TLS'));
  figures.set('h2c_record_rps_vs_direct', median(rps['doppel record, h2c'] ?? []) / Math.max(1e-9, median(rps['direct h2c'] ?? [])));
  figures.set('h2tls_both_record_per_core_vs_h1_record', perCore('doppel record, h2 over TLS both ways') / perCore(h1));
  figures.set('h2c_record_per_core_vs_node_h2c_proxy', perCore('doppel record, h2c') / perCore('plain Node h2c proxy'));
  figures.set('node_h2c_proxy_per_core_vs_h1_record', perCore('plain Node h2c proxy') / perCore(h1));
  figures.set('h2_failed', failed);
  if (failed > 0) figures.flag(`${failed} request(s) failed during the HTTP/2 bench`);
  const nginxName = 'nginx h2c proxy (1 worker)';
  if (nginxFound) {
    figures.set('h2c_record_rps_vs_nginx', median(rps['doppel record, h2c'] ?? []) / Math.max(1e-9, median(rps[nginxName] ?? [])));
    figures.set('h2c_record_per_core_vs_nginx', perCore('doppel record, h2c') / perCore(nginxName));
  }
  const handshakeRatio = median(handshakes.doppel ?? []) / Math.max(1e-9, median(handshakes.direct ?? []));
  figures.set('tls_handshakes_vs_direct', handshakeRatio);
  let md = `### Record proxy over HTTP/2 (h2load: ${shape.clients} connections x ${shape.streams} streams; HTTP/1.1: autocannon, 32 connections; ${rounds} interleaved round(s) of ${seconds}s)\n\n`;
  md += '| path | req/s | CPU µs/request (doppel) | requests per CPU-second | vs HTTP/1.1 record per core |\n|---|---|---|---|---|\n';
  for (const n of names) {
    const hasCpu = cpu[n] !== undefined;
    md += `| ${n} | ${fmt(median(rps[n] ?? []))} | ${hasCpu ? fmt(median(cpu[n] ?? []), 1) : '—'} | ${hasCpu ? fmt(perCore(n)) : '—'} | ${hasCpu ? `${fmt(perCore(n) / perCore(h1), 2)}x` : '—'} |\n`;
  }
  md += nginxFound ? '' : '\nnginx not found (apt-get install nginx-light): its row is left out.\n';
  md += `\nTLS handshakes per second (h2load, ${handshakeShape.clients} connections of one request each, ${rounds} round(s)): direct Node h2 TLS server ${fmt(median(handshakes.direct ?? []))}/s, through doppel record ${fmt(median(handshakes.doppel ?? []))}/s (${fmt(handshakeRatio, 2)}x; doppel's CPU ${fmt(median(handshakeCpu) / handshakeShape.clients)} µs per connection). Through doppel each client connection costs one handshake; the upstream connection is pooled.\n`;
  md += `\nTarget: the h2 record proxy >= 0.8x the HTTP/1.1 record proxy's throughput per core. Failed requests: ${failed}.\n`;
  return md;
}
