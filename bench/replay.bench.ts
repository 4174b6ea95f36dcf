/**
 * Replay engine vs autocannon against the same fast local target (a plain
 * node:http server in a child process, so its CPU is not counted):
 *
 *   - CPU per request at a fixed rate (engine <= 1.3x autocannon)
 *   - max rate (engine >= 0.8x autocannon)
 *   - timing fidelity at time scale 1 and 10: p99 |actual send - scheduled| <= 2 ms at 1,000 rps
 *   - memory: heap after GC, small vs large streamed replay (< 5% growth)
 *
 * The engine judges every response (comparison with the recorded response,
 * gates, metrics); autocannon only sends. autocannon's fixed rate is bursty
 * (each connection sends its share of a second back to back, then idles),
 * while the engine spaces requests evenly; a third sender, bare undici
 * Pool.dispatch paced evenly with no judging, shows what even pacing alone
 * costs on the machine. Ratios are medians of interleaved repeats.
 * BENCH_QUICK=1 runs a ~10 s smoke version.
 *
 *   npx tsx bench/replay.bench.ts
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { Pool, type Dispatcher } from 'undici';
import autocannon from 'autocannon';
import { runReplay } from '../src/replay/run-replay.js';
import { createMetrics } from '../src/metrics/metrics.js';
import { systemClock } from '../src/core/clock.js';
import { parseConfig } from '../src/config/load.js';
import type { ExchangeReader } from '../src/store/types.js';
import type { HttpExchange } from '../src/core/exchange.js';
import { noFigures, type BenchFigures } from './results.js';

export interface ReplayBenchOptions {
  quick?: boolean;
  figures?: BenchFigures;
  log?: (line: string) => void;
}

const TARGET_SOURCE = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  const id = req.url.slice(req.url.lastIndexOf('/') + 1);
  const body = '{"id":"' + id + '","name":"item","price":12.5,"tags":["a","b"]}';
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.send(server.address().port));
`;

export async function startTarget(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['-e', TARGET_SOURCE], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve(Number(m)));
    child.once('error', reject);
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

/** Synthetic recorded traffic, generated as it is read: nothing is held but the window. */
function syntheticTraffic(count: number, spacingMs: number): ExchangeReader {
  const start = Date.parse('2026-01-01T00:00:00.000Z');
  return {
    async *read() {
      for (let i = 0; i < count; i++) {
        const id = String(i);
        const ex: HttpExchange = {
          v: 1,
          id: `ex-${i}`,
          session: `s-${i}`,
          parent: null,
          direction: 'inbound',
          service: 'items',
          protocol: 'http',
          startedAt: new Date(start + i * spacingMs).toISOString(),
          durationMs: 1,
          tags: {},
          http: {
            request: { method: 'GET', url: `/items/${id}`, headers: [['accept', 'application/json']], body: '', bodyEncoding: 'utf8', truncated: false },
            response: {
              status: 200,
              headers: [['content-type', 'application/json']],
              body: `{"id":"${id}","name":"item","price":12.5,"tags":["a","b"]}`,
              bodyEncoding: 'utf8',
              truncated: false,
            },
          },
        };
        yield ex;
      }
    },
  };
}

const gc: () => void = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

interface EngineRun {
  sent: number;
  cpuMs: number;
  elapsedMs: number;
  achievedRate: number;
  lagP99Ms: number;
  peakHeapAfterGc: number;
  /** heap used after a forced GC, every 250 ms while the run went on */
  heapAfterGc: number[];
}

async function engineRun(url: string, count: number, opts: { rate?: number; timeScale?: number; spacingMs?: number; concurrency?: number; sampleHeap?: boolean }): Promise<EngineRun> {
  const cfg = parseConfig('', 'bench', {});
  let peak = 0;
  const heapAfterGc: number[] = [];
  const timer = opts.sampleHeap === true
    ? setInterval(() => {
        gc();
        const used = process.memoryUsage().heapUsed;
        heapAfterGc.push(used);
        peak = Math.max(peak, used);
      }, 250)
    : undefined;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const res = await runReplay(
    {
      replay: {
        ...cfg.replay,
        target: url,
        traffic: ['synthetic'],
        concurrency: opts.concurrency ?? 16,
        time_scale: opts.timeScale ?? 1e9,
        max_delay_ms: 5000,
        ...(opts.rate === undefined ? {} : { rate: opts.rate, max_in_flight: 64 }),
      },
      compare: cfg.compare,
      gates: { status_pass_rate: '>= 0.99', body_match_rate: '>= 0.99' },
      cutoffs: cfg.cutoffs,
      vars: {},
      reader: syntheticTraffic(count, opts.spacingMs ?? 1),
    },
    { log: pino({ level: 'silent' }), metrics: createMetrics(), clock: systemClock },
  );
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  if (timer !== undefined) clearInterval(timer);
  if (res.counts.passed !== count) throw new Error(`bench replay judged ${res.counts.passed}/${count} as passed: ${res.abortReason ?? res.verdict}`);
  return {
    sent: res.counts.sent,
    cpuMs: (cpu.user + cpu.system) / 1000,
    elapsedMs,
    achievedRate: res.achievedRate,
    lagP99Ms: res.schedule.lagP99Ms,
    peakHeapAfterGc: peak,
    heapAfterGc,
  };
}

async function cannonRun(url: string, durationS: number, opts: { rate?: number; connections: number }): Promise<{ sent: number; cpuMs: number; rate: number }> {
  const cpu0 = process.cpuUsage();
  const result = await autocannon({
    url: `${url}/items/1`,
    duration: durationS,
    connections: opts.connections,
    ...(opts.rate === undefined ? {} : { overallRate: opts.rate }),
  });
  const cpu = process.cpuUsage(cpu0);
  const sent = result.requests.total;
  return { sent, cpuMs: (cpu.user + cpu.system) / 1000, rate: sent / durationS };
}

/** Bare undici dispatch, evenly paced, nothing judged: the floor for a paced sender. */
async function pacedFloorRun(url: string, rate: number, count: number): Promise<{ sent: number; cpuMs: number }> {
  const pool = new Pool(url, { connections: 64 });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let done = 0;
  await new Promise<void>((resolve) => {
    const handler: Dispatcher.DispatchHandler = {
      onConnect: () => {},
      onHeaders: () => true,
      onData: () => true,
      onComplete: () => {
        if (++done === count) resolve();
      },
      onError: () => {
        if (++done === count) resolve();
      },
    };
    let i = 0;
    const tick = () => {
      const now = performance.now() - t0;
      while (i < count && (i * 1000) / rate <= now) {
        pool.dispatch({ method: 'GET', path: `/items/${i}`, headers: ['accept', 'application/json'] }, handler);
        i++;
      }
      if (i < count) setTimeout(tick, Math.max(1, Math.round((i * 1000) / rate - (performance.now() - t0))));
    };
    tick();
  });
  const cpu = process.cpuUsage(cpu0);
  await pool.close();
  return { sent: count, cpuMs: (cpu.user + cpu.system) / 1000 };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

export async function runReplayBench(opts: ReplayBenchOptions = {}): Promise<string> {
  const quick = opts.quick ?? process.env.BENCH_QUICK === '1';
  const figures = opts.figures ?? noFigures;
  const say = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const repeats = quick ? 1 : 3;
  const fixedRate = 2000;
  const fixedS = quick ? 1 : 3;
  const maxS = quick ? 1 : 2;
  const fidelityS = quick ? 1 : 3;
  // the small run must already fill the look-ahead window (10,000 requests) to compare like with like
  const memSmall = 10_000;
  const memLarge = quick ? 30_000 : 150_000;
  const { url, child } = await startTarget();
  const rows: string[] = [];
  try {
    // warm every path up (JIT, connections)
    await engineRun(url, 2000, {});
    await engineRun(url, 1000, { rate: fixedRate });
    await cannonRun(url, 1, { connections: 16 });
    await pacedFloorRun(url, fixedRate, 1000);

    const cpuRatio: number[] = [];
    const rateRatio: number[] = [];
    const engCpu: number[] = [];
    const canCpu: number[] = [];
    const floorCpu: number[] = [];
    const floorRatio: number[] = [];
    const engRate: number[] = [];
    const canRate: number[] = [];
    for (let r = 0; r < repeats; r++) {
      say(`replay bench: fixed-rate repeat ${r + 1}/${repeats}`);
      const e = await engineRun(url, fixedRate * fixedS, { rate: fixedRate });
      const c = await cannonRun(url, fixedS, { rate: fixedRate, connections: 16 });
      const f = await pacedFloorRun(url, fixedRate, fixedRate * fixedS);
      const eu = (e.cpuMs * 1000) / e.sent;
      const cu = (c.cpuMs * 1000) / c.sent;
      const fu = (f.cpuMs * 1000) / f.sent;
      engCpu.push(eu);
      canCpu.push(cu);
      floorCpu.push(fu);
      cpuRatio.push(eu / cu);
      floorRatio.push(eu / fu);
      say(`replay bench: max-rate repeat ${r + 1}/${repeats}`);
      const c2 = await cannonRun(url, maxS, { connections: 16 });
      const e2 = await engineRun(url, Math.round(c2.rate * maxS), { concurrency: 16 });
      engRate.push(e2.achievedRate);
      canRate.push(c2.rate);
      rateRatio.push(e2.achievedRate / c2.rate);
    }
    figures.set('cpu_per_request_vs_autocannon', median(cpuRatio));
    figures.set('cpu_per_request_vs_paced_undici', median(floorRatio));
    figures.set('max_rate_vs_autocannon', median(rateRatio));
    figures.set('max_rate_per_s', median(engRate));
    rows.push(`| CPU per request at ${fixedRate} rps (µs) | ${median(engCpu).toFixed(1)} | ${median(canCpu).toFixed(1)} | ${median(cpuRatio).toFixed(2)}x | <= 1.3x | ${median(cpuRatio) <= 1.3 ? 'ok' : 'MISSED'} |`);
    rows.push(`| CPU per request at ${fixedRate} rps vs bare undici evenly paced, nothing judged (µs) | ${median(engCpu).toFixed(1)} | ${median(floorCpu).toFixed(1)} (paced floor) | ${median(floorRatio).toFixed(2)}x | - | info |`);
    rows.push(`| max rate (req/s) | ${median(engRate).toFixed(0)} | ${median(canRate).toFixed(0)} | ${median(rateRatio).toFixed(2)}x | >= 0.8x | ${median(rateRatio) >= 0.8 ? 'ok' : 'MISSED'} |`);

    for (const scale of [1, 10]) {
      say(`replay bench: timing fidelity at time scale ${scale}`);
      // recorded 1 ms apart at scale 1 and 10 ms apart at scale 10: 1,000 rps either way
      const f = await engineRun(url, 1000 * fidelityS, { timeScale: scale, spacingMs: scale, concurrency: 16 });
      figures.set(`send_error_p99_ms_scale_${scale}`, f.lagP99Ms);
      rows.push(`| send-time error p99 at 1,000 rps, time scale ${scale} (ms) | ${f.lagP99Ms.toFixed(2)} | - | - | <= 2 ms | ${f.lagP99Ms <= 2 ? 'ok' : 'MISSED'} |`);
    }

    say(`replay bench: memory ${memSmall} vs ${memLarge} requests`);
    const small = await engineRun(url, memSmall, { concurrency: 16, sampleHeap: true });
    const large = await engineRun(url, memLarge, { concurrency: 16, sampleHeap: true });
    const growth = large.peakHeapAfterGc / small.peakHeapAfterGc - 1;
    figures.set('heap_growth_ratio', growth + 1);
    rows.push(
      `| heap after GC, ${memSmall.toLocaleString('en')} -> ${memLarge.toLocaleString('en')} requests (MB) | ${(small.peakHeapAfterGc / 1e6).toFixed(1)} -> ${(large.peakHeapAfterGc / 1e6).toFixed(1)} | - | ${(growth * 100).toFixed(1)}% | < 5% | ${growth < 0.05 ? 'ok' : 'MISSED'} |`,
    );
    // The peaks above compare a run no longer than the look-ahead window, whose window drains from
    // the start, with one that holds it full throughout, and the largest of 8 samples with the
    // largest of ~100. Whether memory grows with the traffic shows within the long run itself.
    const third = Math.max(1, Math.floor(large.heapAfterGc.length / 3));
    const early = median(large.heapAfterGc.slice(0, third));
    const late = median(large.heapAfterGc.slice(-third));
    const within = late / early - 1;
    figures.set('heap_growth_within_run_ratio', within + 1);
    rows.push(
      `| heap after GC within the ${memLarge.toLocaleString('en')}-request run, median of the first third -> of the last third (MB) | ${(early / 1e6).toFixed(1)} -> ${(late / 1e6).toFixed(1)} | - | ${(within * 100).toFixed(1)}% | < 5% | ${within < 0.05 ? 'ok' : 'MISSED'} |`,
    );
  } finally {
    child.kill();
  }
  const notes = [
    `Loopback, one node:http target in a child process; engine judges every response, autocannon only sends. Median of ${repeats} interleaved repeat(s).`,
    `Memory compares ${memSmall.toLocaleString('en')} with ${memLarge.toLocaleString('en')} requests (scaled down from 10k vs 1M to fit the time budget${quick ? '; quick mode' : ''}); synthetic traffic is generated as it is read.`,
  ];
  return [
    '### replay engine vs autocannon',
    '',
    '| measure | doppel replay | autocannon | ratio | goal | |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    ...notes.map((n) => `- ${n}`),
    '',
  ].join('\n');
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  runReplayBench().then(
    (md) => process.stdout.write(md),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
