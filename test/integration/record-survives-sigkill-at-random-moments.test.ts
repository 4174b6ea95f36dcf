import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import type { HttpExchange } from '../../src/core/exchange.js';
import { encodeExchange } from '../../src/store/codec.js';
import { openStoreReader } from '../../src/store/open-store.js';
import type { CorruptRecord } from '../../src/store/types.js';
import { startCli } from '../helpers/cli.js';
import { startRecordLoad } from '../helpers/record-load.js';
import { connectTestRedis, TEST_REDIS_URL } from '../helpers/redis.js';
import { until } from '../helpers/until.js';
import { startUpstream, tempDir, type Upstream } from '../helpers/http.js';

/**
 * DESIGN.md "Promises": a crash loses at most the last unflushed block, and
 * the store stays readable. A recorder is killed with SIGKILL under load at
 * seeded random moments (a random count of acknowledged requests), again and
 * again into the same store; after each kill the store must read back without
 * an exception, every exchange the store had acknowledged (the recorder's
 * `recorded` just before the kill) must be there, a torn tail must be reported
 * by the reader, and what is lost must fit in the writer's unflushed batches.
 *
 * CRASH_KILLS (default 10 per store; `npm run crash` runs 20) and CRASH_SEED.
 */

const KILLS = Number(process.env.CRASH_KILLS ?? 10);
const SEED = Number(process.env.CRASH_SEED ?? 17);
/** each round starts a doppel process from the sources; a loaded machine takes seconds to */
const TIMEOUT_MS = KILLS * 30_000;
/** the writers' batch byte bound (file store and Redis store defaults) */
const BATCH_BYTES = 256 * 1024;
const connected = await connectTestRedis();
const prefix = `doppel:test:sigkill:${process.pid}:${randomUUID().slice(0, 8)}`;
const running = new Set<ChildProcess>();

async function echo(): Promise<Upstream> {
  return startUpstream((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, ['Content-Type', 'application/json']);
      res.end(JSON.stringify({ url: req.url, pad: 'x'.repeat(512) }));
    });
  });
}

interface KillRound {
  kill: number;
  acked: number;
  recordedBeforeKill: number;
  readBack: number;
  lost: number;
  lostBytes: number;
  tailsReported: number;
}

async function killRepeatedly(out: string, upstreamUrl: string, extra: string[]): Promise<KillRound[]> {
  // Moments are counts of acknowledged requests, not clock times: the same seed picks the same moments.
  const moments = fc.sample(fc.integer({ min: 1, max: 600 }), { seed: SEED, numRuns: KILLS });
  const rounds: KillRound[] = [];
  let tailsSoFar = 0;
  for (let k = 0; k < KILLS; k++) {
    const rec = startCli(['record', '--out', out, '--upstream', upstreamUrl, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', ...extra], {
      DOPPEL_REDACT_KEY: 'test-key',
    });
    // A round that fails or times out must not leave its recorder running.
    running.add(rec.child);
    rec.child.once('exit', () => running.delete(rec.child));
    const proxy = `http://${(await rec.waitFor('record proxy listening')).address as string}`;
    const admin = (await rec.waitFor('admin api listening')).address as string;
    const load = startRecordLoad(proxy, 8, `/k${k}`);
    const moment = moments[k] as number;
    await until(`${moment} acknowledged requests`, () => load.acked.length >= moment, 30_000);
    const status = (await (await request(`http://${admin}/api/record`)).body.json()) as { recorders: Array<{ recorded: number }> };
    const recordedBeforeKill = status.recorders[0]?.recorded ?? 0;
    const exited = new Promise<void>((r) => rec.child.once('exit', () => r()));
    rec.child.kill('SIGKILL');
    await exited;
    await load.stop();

    const corrupt: CorruptRecord[] = [];
    const urls: string[] = [];
    let lineBytes = 0;
    for await (const ex of openStoreReader([out]).read({ onCorrupt: (r) => corrupt.push(r) })) {
      urls.push((ex as HttpExchange).http.request.url);
      lineBytes = Math.max(lineBytes, Buffer.byteLength(encodeExchange(ex)) + 1);
    }
    // A crash tears at most the end of what was being written: never a record in the middle.
    expect(corrupt.filter((c) => !c.isTail), JSON.stringify(corrupt)).toEqual([]);
    expect(new Set(urls).size).toBe(urls.length);
    const mine = new Set(urls.filter((u) => u.startsWith(`/k${k}/`)));
    const ackedMine = load.acked.filter((u) => mine.has(u)).length;
    const lost = load.acked.length - ackedMine;
    const round: KillRound = {
      kill: k,
      acked: load.acked.length,
      recordedBeforeKill,
      readBack: mine.size,
      lost,
      lostBytes: lost * lineBytes,
      tailsReported: corrupt.length - tailsSoFar,
    };
    tailsSoFar = corrupt.length;
    rounds.push(round);
    // What the store acknowledged before the kill is durable.
    expect(mine.size, JSON.stringify(round)).toBeGreaterThanOrEqual(recordedBeforeKill);
    // What is lost was never flushed: the batch being written and the one filling, at most.
    expect(round.lostBytes, JSON.stringify(round)).toBeLessThanOrEqual(2 * BATCH_BYTES);
  }
  return rounds;
}

function summary(name: string, rounds: KillRound[]): string {
  const lost = rounds.map((r) => r.lost);
  return `${name}: ${rounds.length} kills (seed ${SEED}), acked ${rounds.reduce((n, r) => n + r.acked, 0)}, lost per kill max ${Math.max(...lost)} (${Math.max(...rounds.map((r) => r.lostBytes))} bytes), torn tails reported ${rounds.reduce((n, r) => n + r.tailsReported, 0)}`;
}

describe('a recorder killed with SIGKILL at random moments under load', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const child of running) child.kill('SIGKILL');
    for (const c of cleanups.reverse()) await c();
  });

  it(`file store: ${KILLS} kills, each leaves a readable store missing only unflushed exchanges`, async () => {
    const upstream = await echo();
    cleanups.push(() => upstream.close());
    const work = await tempDir('doppel-sigkill-');
    cleanups.push(work.cleanup);
    const rounds = await killRepeatedly(join(work.dir, 'traffic'), upstream.url, []);
    process.stdout.write(`${summary('file store', rounds)}\n`);
  }, TIMEOUT_MS);

  it.skipIf(connected === undefined)(`Redis store: ${KILLS} kills, each leaves a readable store missing only unflushed exchanges`, async () => {
    const raw = connected as Redis;
    cleanups.push(async () => {
      const keys = await raw.keys(`{${prefix}}*`);
      if (keys.length > 0) await raw.del(...keys);
      await raw.quit();
    });
    const upstream = await echo();
    cleanups.push(() => upstream.close());
    const store = `${TEST_REDIS_URL}?prefix=${prefix}`;
    const rounds = await killRepeatedly(store, upstream.url, []);
    // Each batch is one Lua script: the manifest counts exactly what the stream holds, crash or not.
    let n = 0;
    for await (const _ of openStoreReader([store]).read()) n++;
    expect(Number(await raw.hget(`{${prefix}}:manifest`, 'count:exchanges'))).toBe(n);
    process.stdout.write(`${summary('Redis store', rounds)}\n`);
  }, TIMEOUT_MS);
});
