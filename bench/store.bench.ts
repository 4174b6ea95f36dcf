/**
 * Store throughput: doppel's file store append and streaming read, side by
 * side with the floor of what Node can do on the same disk (a raw
 * fs.WriteStream of the same NDJSON lines; a raw readline + JSON.parse).
 * Where Redis answers (REDIS_URL, default 127.0.0.1:6379), the Redis store's
 * append rate is set beside the file store's: what many recorders into one
 * shared store cost against each writing its own file.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { createFileStoreReader, createFileStoreWriter } from '../src/store/file-store.js';
import { createRedisStoreWriter } from '../src/store/redis-store.js';
import type { HttpExchange } from '../src/core/exchange.js';
import { newExchangeId } from '../src/core/ids.js';
import { noFigures, type BenchFigures } from './results.js';
import { fmt, median, table } from './stats.js';

function sample(i: number): HttpExchange {
  return {
    v: 1,
    id: newExchangeId(),
    session: `s-${i % 100}`,
    parent: null,
    direction: 'inbound',
    service: 'orders',
    protocol: 'http',
    startedAt: new Date().toISOString(),
    durationMs: 3.2,
    tags: {},
    http: {
      request: { method: 'GET', url: `/orders/${i}`, headers: [['Host', 'orders'], ['Accept', 'application/json']], body: '', bodyEncoding: 'utf8', truncated: false },
      response: { status: 200, headers: [['Content-Type', 'application/json']], body: JSON.stringify({ id: i, items: [1, 2, 3], note: 'x'.repeat(300) }), bodyEncoding: 'utf8', truncated: false },
    },
  };
}

async function timeIt(fn: () => Promise<number>): Promise<{ ms: number; bytes: number }> {
  const t0 = performance.now();
  const bytes = await fn();
  return { ms: performance.now() - t0, bytes };
}

const REDIS = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

async function redisAnswers(): Promise<boolean> {
  const r = new Redis(REDIS, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, connectTimeout: 1000 });
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

/** Deletes the bench's keys: every key under the prefix's hash tag. */
async function dropRedisPrefix(prefix: string): Promise<void> {
  const r = new Redis(REDIS, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `{${prefix}}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await r.del(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}

export async function runStoreBench(opts: { quick: boolean; figures?: BenchFigures }): Promise<string> {
  const figures = opts.figures ?? noFigures;
  const n = opts.quick ? 20_000 : 200_000;
  const repeats = opts.quick ? 2 : 5;
  const root = await mkdtemp(join(tmpdir(), 'doppel-bench-store-'));
  const exchanges = Array.from({ length: n }, (_, i) => sample(i));
  const results: Record<string, number[]> = { doppelAppend: [], rawAppend: [], doppelGzip: [], doppelRead: [], rawRead: [], redisAppend: [] };
  const hasRedis = await redisAnswers();
  // Redis holds the whole run in memory: a quarter of the file store's count is plenty for a rate
  const redisN = Math.min(n, opts.quick ? 5_000 : 50_000);
  let bytes = 0;
  try {
    for (let r = 0; r < repeats; r++) {
      // interleaved so drift on a shared machine hits both sides alike
      const dir = join(root, `d-${r}`);
      const a = await timeIt(async () => {
        const w = await createFileStoreWriter({ dir });
        for (const ex of exchanges) void w.append(ex);
        await w.close();
        return w.bytesWritten;
      });
      bytes = a.bytes;
      results.doppelAppend!.push(a.ms);
      const rawFile = join(root, `raw-${r}.ndjson`);
      const b = await timeIt(async () => {
        const ws = createWriteStream(rawFile);
        for (const ex of exchanges) if (!ws.write(JSON.stringify(ex) + '\n')) await new Promise<void>((res) => ws.once('drain', () => res()));
        await new Promise<void>((res, rej) => ws.end((err?: Error | null) => (err ? rej(err) : res())));
        return 0;
      });
      results.rawAppend!.push(b.ms);
      const gz = await timeIt(async () => {
        const w = await createFileStoreWriter({ dir: join(root, `gz-${r}`), gzip: true });
        for (const ex of exchanges) void w.append(ex);
        await w.close();
        return 0;
      });
      results.doppelGzip!.push(gz.ms);
      const c = await timeIt(async () => {
        let k = 0;
        for await (const _ of createFileStoreReader([dir]).read()) k++;
        return k;
      });
      results.doppelRead!.push(c.ms);
      const d = await timeIt(async () => {
        let k = 0;
        const rl = createInterface({ input: createReadStream(rawFile), crlfDelay: Infinity });
        for await (const line of rl) if (JSON.parse(line)) k++;
        return k;
      });
      results.rawRead!.push(d.ms);
      if (hasRedis) {
        const prefix = `doppel-bench-${process.pid}-${r}`;
        try {
          const e = await timeIt(async () => {
            const w = await createRedisStoreWriter({ url: `${REDIS}/0?prefix=${prefix}` });
            for (let i = 0; i < redisN; i++) void w.append(exchanges[i] as HttpExchange);
            await w.close();
            return 0;
          });
          // per exchange, as the Redis run is shorter than the file store's
          results.redisAppend!.push((e.ms * n) / redisN);
        } finally {
          await dropRedisPrefix(prefix);
        }
      }
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  const mb = bytes / 1024 / 1024;
  const row = (label: string, key: string, baseKey: string) => {
    const ms = median(results[key]!);
    const base = median(results[baseKey]!);
    figures.set(`${key}_per_s`, (n / ms) * 1000);
    figures.set(`${key}_vs_${baseKey}`, base / ms);
    if (key === 'redisAppend') figures.set('redisAppend_vs_doppelAppend', median(results.doppelAppend!) / ms);
    return [label, fmt((n / ms) * 1000), fmt(mb / (ms / 1000)), fmt(base / ms)];
  };
  return [
    `${fmt(n, 0)} exchanges (${fmt(mb)} MB NDJSON), median of ${repeats} interleaved runs. Ratio = baseline time / doppel time (1.0 = as fast as raw Node).`,
    '',
    table(
      ['operation', 'exchanges/s', 'MB/s', 'ratio vs raw Node'],
      [
        row('append (file store, plain)', 'doppelAppend', 'rawAppend'),
        row('append (file store, gzip)', 'doppelGzip', 'rawAppend'),
        row('read (streaming, decode + validate)', 'doppelRead', 'rawRead'),
        ...(hasRedis ? [row(`append (Redis store, ${fmt(redisN, 0)} exchanges)`, 'redisAppend', 'rawAppend')] : []),
      ],
    ),
    '',
    hasRedis
      ? `Redis store append against the file store's: ${fmt(median(results.doppelAppend!) / median(results.redisAppend!), 2)}x (one recorder; ${REDIS.replace(/\/\/[^@]*@/, '//')}).`
      : `Redis did not answer at ${REDIS.replace(/\/\/[^@]*@/, '//')}: the Redis store row is left out.`,
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await runStoreBench({ quick: process.env.BENCH_QUICK === '1' }));
}
