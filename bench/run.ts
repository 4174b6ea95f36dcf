/**
 * `npm run bench`: runs each benchmark module side by side with its baseline
 * in one process run and prints markdown tables of ratios. BENCH_QUICK=1 runs
 * a short smoke version; BENCH_ONLY=store,http picks modules.
 */
import { runStoreBench } from './store.bench.js';
import { runPgBench } from './pg.bench.js';
import { runCompareBench } from './compare.bench.js';
import { runReplayBench } from './replay.bench.js';
import { runShadowBench, runShadowSettle } from './shadow.bench.js';
import { runHttpBench } from './http.bench.js';

interface BenchModule {
  name: string;
  run: (opts: { quick: boolean }) => Promise<string>;
}

const modules: BenchModule[] = [
  { name: 'store', run: runStoreBench },
  { name: 'http', run: (o) => runHttpBench({ quick: o.quick }) },
  { name: 'pg', run: runPgBench },
  { name: 'compare', run: (o) => runCompareBench({ quick: o.quick }) },
  { name: 'replay', run: (o) => runReplayBench({ quick: o.quick }) },
  { name: 'shadow', run: runShadowBench },
  { name: 'shadow-settle', run: runShadowSettle },
];

const quick = process.env.BENCH_QUICK === '1';
const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());

console.log(`# doppel bench (${quick ? 'quick' : 'full'}; node ${process.version}; ${new Date().toISOString()})\n`);
for (const m of modules) {
  if (only && !only.includes(m.name)) continue;
  console.log(`## ${m.name}\n`);
  console.log(await m.run({ quick }));
  console.log('');
}
