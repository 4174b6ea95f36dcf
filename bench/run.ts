/**
 * `npm run bench`: runs each benchmark module side by side with its baseline
 * in one process run, prints markdown tables of ratios and writes each
 * bench's figures to bench/results/<bench>.json. BENCH_QUICK=1 runs a short
 * smoke version; BENCH_ONLY=store,http picks modules.
 *
 * `npm run bench -- --check` then holds the figures against bench/floors.json
 * and exits 1 naming every missed floor and every flagged run (a record
 * proxy that dropped exchanges, say), so a slow or cheating run cannot pass.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runStoreBench } from './store.bench.js';
import { runPgBench } from './pg.bench.js';
import { runCompareBench } from './compare.bench.js';
import { runReplayBench } from './replay.bench.js';
import { runReplayWorkersBench } from './replay-workers.bench.js';
import { runShadowBench, runShadowSettle } from './shadow.bench.js';
import { runHttpBench } from './http.bench.js';
import { runGrpcBench } from './grpc.bench.js';
import { runHttp2Bench } from './http2.bench.js';
import { checkFloors, collectFigures, machineFacts, parseFloors, writeBenchResult, type BenchFigures, type BenchResult, type Floors } from './results.js';

interface BenchModule {
  name: string;
  run: (opts: { quick: boolean; figures: BenchFigures }) => Promise<string>;
}

const modules: BenchModule[] = [
  { name: 'store', run: runStoreBench },
  { name: 'http', run: (o) => runHttpBench({ quick: o.quick, figures: o.figures }) },
  { name: 'http2', run: (o) => runHttp2Bench({ quick: o.quick, figures: o.figures }) },
  { name: 'pg', run: runPgBench },
  { name: 'compare', run: (o) => runCompareBench({ quick: o.quick, figures: o.figures }) },
  { name: 'replay', run: (o) => runReplayBench({ quick: o.quick, figures: o.figures }) },
  { name: 'replay-workers', run: (o) => runReplayWorkersBench({ quick: o.quick, figures: o.figures }) },
  { name: 'shadow', run: runShadowBench },
  { name: 'shadow-settle', run: runShadowSettle },
  { name: 'grpc', run: (o) => runGrpcBench({ quick: o.quick, figures: o.figures }) },
];

const here = dirname(fileURLToPath(import.meta.url));
const RESULTS_DIR = join(here, 'results');
const FLOORS_FILE = join(here, 'floors.json');

const args = process.argv.slice(2);
const unknown = args.filter((a) => a !== '--check');
if (unknown.length > 0) {
  process.stderr.write(`bench: unknown argument ${unknown.join(' ')} (the one flag is --check; BENCH_ONLY and BENCH_QUICK pick what runs)\n`);
  process.exit(2);
}
const isCheck = args.includes('--check');
const quick = process.env.BENCH_QUICK === '1';
const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
const unknownOnly = only?.filter((n) => !modules.some((m) => m.name === n)) ?? [];
if (unknownOnly.length > 0) {
  process.stderr.write(`bench: BENCH_ONLY names no bench ${unknownOnly.join(', ')} (benches: ${modules.map((m) => m.name).join(', ')})\n`);
  process.exit(2);
}
// Floors are read first: a broken floors file should not cost a whole bench run to find out.
let floors: Floors = {};
if (isCheck) {
  try {
    floors = parseFloors(await readFile(FLOORS_FILE, 'utf8'), relative(process.cwd(), FLOORS_FILE));
  } catch (err) {
    process.stderr.write(`bench: cannot check: ${(err as Error).message}\n`);
    process.exit(2);
  }
}

console.log(`# doppel bench (${quick ? 'quick' : 'full'}; node ${process.version}; ${new Date().toISOString()})\n`);
const results: BenchResult[] = [];
for (const m of modules) {
  if (only && !only.includes(m.name)) continue;
  const machine = machineFacts();
  const startedAt = new Date().toISOString();
  const figures = collectFigures();
  console.log(`## ${m.name}\n`);
  console.log(await m.run({ quick, figures }));
  console.log('');
  const result: BenchResult = { bench: m.name, quick, startedAt, finishedAt: new Date().toISOString(), machine, figures: figures.figures, problems: figures.problems };
  results.push(result);
  const file = await writeBenchResult(RESULTS_DIR, result);
  process.stderr.write(`bench: ${m.name} figures written to ${relative(process.cwd(), file)}\n`);
}

if (isCheck) {
  if (quick) process.stderr.write('bench: checking a BENCH_QUICK run; its short rounds are noisier than the floors assume\n');
  const missed = checkFloors(results, floors);
  if (missed.length > 0) {
    process.stderr.write(`bench: ${missed.length} floor(s) missed:\n${missed.map((m) => `  ${m}`).join('\n')}\n`);
    process.exit(1);
  }
  process.stderr.write(`bench: every floor met (${results.map((r) => r.bench).join(', ')})\n`);
}
