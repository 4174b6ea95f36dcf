/**
 * Comparator throughput on 1 KB and 100 KB JSON bodies with 5 ignore rules,
 * side by side with two baselines in the same run: JSON.parse of both bodies
 * alone (the floor of any structural diff) and JSON.parse + node:util
 * isDeepStrictEqual (a naive structural compare without rules). Variants run
 * interleaved; figures are medians of the repeats. MB/s counts the baseline
 * body's bytes per comparison. Target: >= 50 MB/s per core.
 *
 * Run alone: npx tsx bench/compare.bench.ts   (BENCH_QUICK=1 for a smoke run)
 */
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { pathToFileURL } from 'node:url';
import { Value } from '@sinclair/typebox/value';
import { createComparator } from '../src/compare/comparator.js';
import { CompareSchema, type CompareConfig } from '../src/config/schema.js';
import { resolveCompare } from '../src/config/resolve.js';
import type { ResponseSample } from '../src/compare/types.js';
import { noFigures, type BenchFigures } from './results.js';

export interface CompareBenchOptions {
  quick?: boolean;
  figures?: BenchFigures;
  /** measuring time per variant and repeat */
  sliceMs?: number;
  repeats?: number;
}

const IGNORE = ['$.meta.requestId', '$..traceId', '$.items[*].updatedAt', '$.customer.lastSeen', '$.meta.servedBy'];

function makeOrder(items: number, seed: number, isCandidate: boolean): unknown {
  const ts = (i: number) => new Date(Date.UTC(2026, 10, 26, 13, 0, (seed + i) % 60, isCandidate ? 999 : 0)).toISOString();
  return {
    id: randomUUID(),
    number: 100_000 + seed,
    status: 'paid',
    createdAt: ts(0),
    total: 1234.56,
    currency: 'EUR',
    meta: { requestId: randomUUID(), traceId: randomUUID().replace(/-/g, ''), servedBy: isCandidate ? 'node-b' : 'node-a', version: 3 },
    customer: { id: seed * 7, name: 'Ada Lovelace', email: 'ada@example.com', lastSeen: ts(1), tags: ['vip', 'eu'] },
    items: Array.from({ length: items }, (_, i) => ({
      sku: `SKU-${(seed * 31 + i) % 9973}`,
      title: `Item number ${i} with a reasonably descriptive title`,
      qty: (i % 5) + 1,
      price: Math.round((i * 3.7 + 9.99) * 100) / 100,
      discount: i % 3 === 0 ? 0.1 : 0,
      updatedAt: ts(i),
      traceId: randomUUID(),
      attributes: { color: ['red', 'green', 'blue'][i % 3], size: i % 2 ? 'L' : 'M', giftWrap: i % 7 === 0 },
    })),
  };
}

/** A pair of bodies near `targetBytes`: same data, fresh ids and clocks on the candidate side. */
function makePair(targetBytes: number): { baseline: ResponseSample; candidate: ResponseSample; bytes: number } {
  let items = 1;
  while (JSON.stringify(makeOrder(items + 1, 1, false)).length <= targetBytes) items++;
  const a = Buffer.from(JSON.stringify(makeOrder(items, 1, false)));
  const b = Buffer.from(JSON.stringify(makeOrder(items, 1, true)));
  const headers: Array<[string, string]> = [['content-type', 'application/json']];
  return { baseline: { status: 200, headers, body: a }, candidate: { status: 200, headers, body: b }, bytes: a.length };
}

interface Variant {
  name: string;
  run: () => unknown;
}

function measure(v: Variant, sliceMs: number): number {
  let ops = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(sliceMs * 1e6));
  let now = start;
  while (now < end) {
    for (let i = 0; i < 8; i++) v.run();
    ops += 8;
    now = process.hrtime.bigint();
  }
  return ops / (Number(now - start) / 1e9);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export async function runCompareBench(opts: CompareBenchOptions = {}): Promise<string> {
  const quick = opts.quick ?? process.env.BENCH_QUICK === '1';
  const figures = opts.figures ?? noFigures;
  const sliceMs = opts.sliceMs ?? (quick ? 250 : 1000);
  const repeats = opts.repeats ?? (quick ? 3 : 5);
  const cfg = resolveCompare(Value.Default(CompareSchema, { ignore: IGNORE }) as CompareConfig);
  const comparator = createComparator(cfg);
  const rows: string[] = [];
  rows.push('### compare: comparator throughput (5 ignore rules, value classes on)');
  rows.push('');
  rows.push(`${repeats} interleaved repeats of ${sliceMs} ms per variant, median; MB/s = baseline body bytes compared per second on one core.`);
  rows.push('');
  rows.push('| body | variant | comparisons/s | MB/s | vs JSON.parse x2 | vs parse + isDeepStrictEqual | target 50 MB/s |');
  rows.push('|---|---|---:|---:|---:|---:|---|');
  for (const size of [1024, 100 * 1024]) {
    const pair = makePair(size);
    const check = comparator.compare(pair.baseline, pair.candidate, 'GET /orders/:id');
    if (!check.isMatch) throw new Error(`bench pair should match under its rules: ${JSON.stringify(check.diffs.slice(0, 3))}`);
    const variants: Variant[] = [
      { name: 'JSON.parse x2 (floor)', run: () => [JSON.parse(pair.baseline.body.toString('utf8')), JSON.parse(pair.candidate.body.toString('utf8'))] },
      {
        name: 'parse + isDeepStrictEqual',
        run: () => isDeepStrictEqual(JSON.parse(pair.baseline.body.toString('utf8')), JSON.parse(pair.candidate.body.toString('utf8'))),
      },
      { name: 'doppel comparator', run: () => comparator.compare(pair.baseline, pair.candidate, 'GET /orders/:id') },
    ];
    const samples = new Map<string, number[]>(variants.map((v) => [v.name, []]));
    for (const v of variants) measure(v, Math.min(100, sliceMs)); // warm-up
    for (let r = 0; r < repeats; r++) {
      for (const v of r % 2 ? [...variants].reverse() : variants) samples.get(v.name)?.push(measure(v, sliceMs));
    }
    const med = new Map([...samples].map(([k, xs]) => [k, median(xs)]));
    const parse = med.get('JSON.parse x2 (floor)') as number;
    const deep = med.get('parse + isDeepStrictEqual') as number;
    for (const v of variants) {
      const ops = med.get(v.name) as number;
      const mbs = (ops * pair.bytes) / 1e6;
      const isOurs = v.name === 'doppel comparator';
      if (isOurs) {
        const kb = size / 1024;
        figures.set(`comparator_${kb}kb_mb_per_s`, mbs);
        figures.set(`comparator_${kb}kb_vs_json_parse`, ops / parse);
        figures.set(`comparator_${kb}kb_vs_deep_equal`, ops / deep);
      }
      rows.push(
        `| ${(pair.bytes / 1024).toFixed(1)} KB | ${v.name} | ${ops.toFixed(0)} | ${mbs.toFixed(1)} | ${(ops / parse).toFixed(2)} | ${(ops / deep).toFixed(2)} | ${isOurs ? (mbs >= 50 ? 'met' : 'MISSED') : ''} |`,
      );
    }
  }
  rows.push('');
  rows.push('Ratios above 1 are faster than the baseline. The candidate bodies carry fresh UUIDs, timestamps and tokens (matched by value class) and differ in the 5 ignored paths, so no byte-equality shortcut applies.');
  return rows.join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runCompareBench().then(
    (md) => console.log(md),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
