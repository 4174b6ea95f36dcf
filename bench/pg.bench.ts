/**
 * Postgres bench: `pgbench -S` (select-only, 8 clients; simple and extended
 * protocol) directly against Postgres, through a plain Node TCP relay that
 * only pipes bytes (net sockets piped both ways; no doppel code), through
 * doppel's record relay (recording on), and
 * against doppel's mock replaying a recording of the same workload (same
 * --random-seed and -t, so the same statements come back). Figures are
 * medians of interleaved repeats. Also the mock's RSS while serving 100k
 * recorded statements.
 *
 * Needs Postgres on 127.0.0.1:5432 (user postgres, trust) and pgbench.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import pg from 'pg';
import { startPgRecorder } from '../src/capture/pg-recorder.js';
import type { PgExchange } from '../src/core/exchange.js';
import { startPgMock } from '../src/mock/pg/server.js';
import { createMetrics } from '../src/metrics/metrics.js';
import { createFileStoreReader, createFileStoreWriter } from '../src/store/file-store.js';
import { noFigures, type BenchFigures } from './results.js';
import { fmt, median, percentile, table } from './stats.js';
import { startPlainRelay } from './plain-tcp-relay.js';

const run = promisify(execFile);
const DB = 'doppel_pgbench_bench';
const HOST = '127.0.0.1';
const PORT = 5432;

export interface PgBenchOptions {
  quick: boolean;
  figures?: BenchFigures;
}

interface Sample {
  tps: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU of this process (relay or mock; pgbench and Postgres are other processes) per transaction */
  cpuUsPerTx: number;
}

async function pgbench(port: number, mode: string, perClient: number, logDir: string): Promise<Sample> {
  const prefix = join(logDir, `log-${port}-${mode}-${Date.now()}`);
  const cpu0 = process.cpuUsage();
  const { stdout } = await run(
    'pgbench',
    ['-h', HOST, '-p', String(port), '-U', 'postgres', '-n', '-S', '-M', mode, '-c', '8', '-j', '2', '-t', String(perClient), '--random-seed', '42', '-l', '--log-prefix', prefix, DB],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  const cpu = process.cpuUsage(cpu0);
  const tps = Number(/tps = ([\d.]+)/.exec(stdout)?.[1] ?? NaN);
  const lat: number[] = [];
  for (const f of await readdir(logDir)) {
    if (!join(logDir, f).startsWith(prefix)) continue;
    const text = await readFile(join(logDir, f), 'utf8');
    for (const line of text.split('\n')) {
      const us = Number(line.split(' ')[2]);
      if (Number.isFinite(us) && line !== '') lat.push(us / 1000);
    }
    await rm(join(logDir, f));
  }
  return { tps, p50Ms: median(lat), p99Ms: percentile(lat, 99), cpuUsPerTx: (cpu.user + cpu.system) / (perClient * 8) };
}


async function mockRssFor100k(): Promise<{ rssMb: number; loadMs: number; servedPerSec: number }> {
  const n = 100_000;
  const exchanges: PgExchange[] = [];
  for (let i = 0; i < n; i++) {
    exchanges.push({
      v: 1,
      id: `ex-${i}`,
      session: `c-${i % 8}`,
      parent: null,
      direction: 'outbound',
      service: 'db',
      protocol: 'pg',
      startedAt: new Date(0).toISOString(),
      durationMs: 0.1,
      tags: {},
      pg: {
        connection: `c-${i % 8}`,
        seq: i,
        request: { kind: 'extended', sql: 'SELECT abalance FROM pgbench_accounts WHERE aid = $1', params: [String(i + 1)], paramTypes: [23], resultFormats: [] },
        response: {
          results: [{ fields: [{ name: 'abalance', tableOid: 16400, column: 3, typeOid: 23, typeSize: 4, typeMod: -1, format: 0 }], rows: [[String(i % 1000)]], command: 'SELECT 1' }],
          error: null,
          notices: [],
          txStatus: 'I',
        },
      },
    });
  }
  global.gc?.();
  const before = process.memoryUsage().rss;
  const t0 = performance.now();
  const mock = await startPgMock({ service: 'db', listen: { host: HOST, port: 0 }, exchanges, log: pino({ level: 'silent' }), metrics: createMetrics() });
  const loadMs = performance.now() - t0;
  exchanges.length = 0;
  const c = new pg.Client({ host: HOST, port: mock.address.port, user: 'postgres', database: 'x' });
  await c.connect();
  const t1 = performance.now();
  const served = 10_000;
  for (let i = 0; i < served; i++) await c.query('SELECT abalance FROM pgbench_accounts WHERE aid = $1', [i * 7 + 1]);
  const servedPerSec = served / ((performance.now() - t1) / 1000);
  global.gc?.();
  const rssMb = (process.memoryUsage().rss - before) / 1024 / 1024;
  await c.end();
  await mock.close();
  return { rssMb, loadMs, servedPerSec };
}

export async function runPgBench(opts: PgBenchOptions): Promise<string> {
  const figures = opts.figures ?? noFigures;
  const perClient = opts.quick ? 150 : 1500;
  // Five interleaved rounds at least: the targets are medians of paired rounds.
  const repeats = opts.quick ? 1 : 5;
  const log = pino({ level: 'silent' });
  const root = await mkdtemp(join(tmpdir(), 'doppel-pgbench-'));
  const admin = new pg.Client({ host: HOST, port: PORT, user: 'postgres', database: 'postgres' });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DB}`);
  await admin.query(`CREATE DATABASE ${DB}`);
  await run('pgbench', ['-h', HOST, '-p', String(PORT), '-U', 'postgres', '-i', '-q', '-s', '1', DB]);
  const rows: string[][] = [];
  /** each round's record/plain ratios, so a median's spread is in the output beside it */
  const rounds: string[] = [];
  try {
    for (const mode of ['simple', 'extended']) {
      // Recording of this workload for the mock.
      const recDir = join(root, `rec-${mode}`);
      const writer = await createFileStoreWriter({ dir: recDir });
      const recorder = await startPgRecorder({ service: 'db', listen: { host: HOST, port: 0 }, target: { host: HOST, port: PORT }, writer, log, metrics: createMetrics() });
      await pgbench(recorder.address.port, mode, perClient, root);
      await recorder.close();
      await writer.close();
      const mock = await startPgMock({ service: 'db', listen: { host: HOST, port: 0 }, reader: createFileStoreReader([recDir]), log, metrics: createMetrics() });
      const plain = await startPlainRelay(PORT);
      const s: Record<string, Sample[]> = { direct: [], plain: [], record: [], mock: [] };
      let recordDropped = 0;
      for (let r = 0; r < repeats; r++) {
        // Alternating order, so drift in the machine's load falls on every target alike.
        const order = r % 2 === 0 ? ['direct', 'plain', 'record', 'mock'] : ['mock', 'record', 'plain', 'direct'];
        for (const k of order) {
          if (k === 'direct') s.direct!.push(await pgbench(PORT, mode, perClient, root));
          if (k === 'plain') s.plain!.push(await pgbench(plain.port, mode, perClient, root));
          if (k === 'record') {
            const dir = join(root, `rec-${mode}-${r}`);
            const w = await createFileStoreWriter({ dir });
            const metrics = createMetrics();
            const rec = await startPgRecorder({ service: 'db', listen: { host: HOST, port: 0 }, target: { host: HOST, port: PORT }, writer: w, log, metrics });
            s.record!.push(await pgbench(rec.address.port, mode, perClient, root));
            await rec.close();
            await w.close();
            // A fast run that dropped its recordings is not fast: every statement must be in the store.
            const count = async (c: typeof metrics.recordDropped | typeof metrics.exchangesRecorded) => (await c.get()).values.reduce((a, v) => a + v.value, 0);
            const dropped = await count(metrics.recordDropped);
            const recorded = await count(metrics.exchangesRecorded);
            recordDropped += dropped;
            if (dropped > 0) figures.flag(`-M ${mode} round ${r + 1}: the record relay dropped ${dropped} exchange(s)`);
            if (recorded < perClient * 8) figures.flag(`-M ${mode} round ${r + 1}: the record relay recorded ${recorded} exchanges for ${perClient * 8} transactions`);
          }
          if (k === 'mock') {
            mock.reset();
            s.mock!.push(await pgbench(mock.address.port, mode, perClient, root));
          }
        }
      }
      const misses = mock.stats().unmatched;
      await mock.close();
      await plain.close();
      const tps = (k: string) => median(s[k]!.map((x) => x.tps));
      const p50 = (k: string) => median(s[k]!.map((x) => x.p50Ms));
      const p99 = (k: string) => median(s[k]!.map((x) => x.p99Ms));
      const cpu = (k: string) => (k === 'direct' ? '-' : fmt(median(s[k]!.map((x) => x.cpuUsPerTx)), 1));
      figures.set(`${mode}_plain_relay_tps_vs_direct`, tps('plain') / tps('direct'));
      // Record vs plain relay: the median of each round's ratio (the two ran back to back).
      const paired = (f: (x: Sample) => number) => median(s.record!.map((x, i) => f(x) / f(s.plain![i] as Sample)));
      figures.set(`${mode}_record_tps_vs_plain_relay`, paired((x) => x.tps));
      figures.set(`${mode}_record_cpu_us_vs_plain_relay`, paired((x) => x.cpuUsPerTx));
      figures.set(`${mode}_record_p99_vs_plain_relay`, paired((x) => x.p99Ms));
      figures.set(`${mode}_plain_relay_cpu_us_per_tx`, median(s.plain!.map((x) => x.cpuUsPerTx)));
      figures.set(`${mode}_record_cpu_us_per_tx`, median(s.record!.map((x) => x.cpuUsPerTx)));
      figures.set(`${mode}_record_dropped`, recordDropped);
      figures.set(`${mode}_mock_tps_vs_direct`, tps('mock') / tps('direct'));
      figures.set(`${mode}_mock_misses`, misses);
      if (misses > 0) figures.flag(`-M ${mode}: the mock missed ${misses} statement(s) of the recorded workload`);
      const row = (k: string, name: string, ratio: string) => [`-M ${mode}`, name, fmt(tps(k), 0), fmt(p50(k), 3), fmt(p99(k), 3), cpu(k), ratio];
      rows.push(row('direct', 'Postgres direct', '1.00 (baseline)'));
      rows.push(row('plain', 'plain Node TCP relay', fmt(tps('plain') / tps('direct'))));
      rows.push(
        row(
          'record',
          'doppel record relay',
          `TPS ${fmt(paired((x) => x.tps))}, CPU ${fmt(paired((x) => x.cpuUsPerTx))}, p99 ${fmt(paired((x) => x.p99Ms))} vs plain relay`,
        ),
      );
      rows.push(row('mock', `doppel mock (${misses} misses)`, `${fmt(tps('mock') / tps('direct'))} vs direct`));
      const each = (f: (x: Sample) => number) => s.record!.map((x, i) => fmt(f(x) / f(s.plain![i] as Sample))).join(', ');
      rounds.push(`-M ${mode}, record relay / plain relay by round: TPS ${each((x) => x.tps)}; CPU ${each((x) => x.cpuUsPerTx)}; p99 ${each((x) => x.p99Ms)}`);
    }
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${DB}`);
    await admin.end();
    await rm(root, { recursive: true, force: true });
  }
  const mem = await mockRssFor100k();
  figures.set('mock_100k_rss_mb', mem.rssMb);
  return [
    `pgbench -S, 8 clients (-j 2), ${perClient} transactions per client, --random-seed 42; median of ${repeats} interleaved run(s). p50 and p99 from pgbench's per-transaction log. Record-relay ratios are medians of each round's ratio to the plain relay run next to it. Targets (recording on): TPS >= 0.95x, CPU per transaction <= 1.15x, p99 <= 1.2x the plain relay. CPU: this process (relay or mock) per transaction, which does not depend on what else runs on the machine.`,
    '',
    table(['protocol', 'target', 'TPS', 'p50 ms', 'p99 ms', 'doppel CPU us/tx', 'ratio'], rows),
    '',
    ...rounds.map((r) => `- ${r}`),
    '',
    table(
      ['mock with 100k recorded statements', 'value'],
      [
        ['RSS growth (load + serve 10k lookups)', `${fmt(mem.rssMb)} MB`],
        ['load time', `${fmt(mem.loadMs, 0)} ms`],
        ['sequential lookups served (1 client)', `${fmt(mem.servedPerSec, 0)} /s`],
      ],
    ),
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await runPgBench({ quick: process.env.BENCH_QUICK === '1' }));
}
