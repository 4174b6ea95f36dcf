import { randomUUID } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import type { HttpExchange } from '../../src/core/exchange.js';
import { createRedisStoreReader, createRedisStoreWriter } from '../../src/store/redis-store.js';
import { httpExchange } from '../helpers/exchanges.js';
import { runCli, startCli, type Running } from '../helpers/cli.js';
import { findExecutable, missingTool } from '../helpers/services.js';
import { until } from '../helpers/until.js';
import { startUpstream, tempDir, type Upstream } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';
import { redisProcess } from '../helpers/redis-server-process.js';

const bin = missingTool('redis-server', 'redis-server') === undefined ? findExecutable('redis-server') : undefined;
const prefix = `doppel:test:spool:${process.pid}:${randomUUID().slice(0, 8)}`;

async function echo(): Promise<Upstream> {
  return startUpstream((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, ['Content-Type', 'application/json']);
      res.end(JSON.stringify({ url: req.url }));
    });
  });
}

async function send(base: string, paths: string[]): Promise<void> {
  for (const p of paths) {
    const r = await request(`${base}${p}`);
    // The client's answer never depends on Redis.
    expect(r.statusCode).toBe(200);
    expect(await r.body.json()).toEqual({ url: p });
  }
}

const range = (name: string, n: number) => Array.from({ length: n }, (_, i) => `/${name}/${i}`);

async function metric(admin: string, line: string): Promise<number> {
  const text = await (await request(`http://${admin}/metrics`)).body.text();
  const hit = text.split('\n').find((l) => l.startsWith(line));
  return hit === undefined ? 0 : Number(hit.slice(line.length).trim());
}

async function spoolState(admin: string): Promise<{ spooling: boolean; batches: number; bytes: number; maxBytes: number }> {
  const body = (await (await request(`http://${admin}/api/record`)).body.json()) as { recorders: Array<{ spool?: { spooling: boolean; batches: number; bytes: number; maxBytes: number } }> };
  const spool = body.recorders[0]?.spool;
  if (spool === undefined) throw new Error(`/api/record shows no spool: ${JSON.stringify(body)}`);
  return spool;
}

describe.skipIf(bin === undefined)('record into a Redis store that goes away', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  /** A redis-server of this test's own, so killing it touches no other test's store. */
  async function privateRedis(dirPrefix: string): Promise<{ work: { dir: string }; redis: ReturnType<typeof redisProcess> }> {
    const work = await tempDir(dirPrefix);
    cleanups.push(work.cleanup);
    const redis = redisProcess(bin as string, await freePort(), work.dir);
    await redis.start();
    cleanups.push(() => redis.kill());
    return { work, redis };
  }

  async function rawClient(url: string): Promise<Redis> {
    const raw = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
    await raw.connect();
    // quit() of a client whose server was killed rejects; the server is gone either way.
    cleanups.push(() => raw.quit().catch(() => undefined));
    return raw;
  }

  it('Redis restarted mid-record loses nothing within the spool bound: spooled batches drain in order, once each', async () => {
    const { work, redis } = await privateRedis('doppel-spool-');
    const upstream = await echo();
    cleanups.push(() => upstream.close());
    const spoolDir = join(work.dir, 'spool');
    const config = join(work.dir, 'doppel.yaml');
    await writeFile(config, `store:\n  spool:\n    dir: ${JSON.stringify(spoolDir)}\n    max_bytes: 16mb\n`);
    const store = `${redis.url}?prefix=${prefix}`;

    const rec: Running = startCli(['record', '--config', config, '--out', store, '--listen', '127.0.0.1:0', '--upstream', upstream.url, '--admin', '127.0.0.1:0'], {
      DOPPEL_REDACT_KEY: 'test-key',
    });
    cleanups.push(() => rec.stop());
    const proxy = `http://${(await rec.waitFor('record proxy listening')).address as string}`;
    const admin = (await rec.waitFor('admin api listening')).address as string;

    const early = await rawClient(redis.url);
    await send(proxy, range('before', 20));
    // Redis goes away only once the first 20 are in it, so the spool holds exactly the later ones.
    await until('the first 20 exchanges in Redis', async () => Number(await early.hget(`{${prefix}}:manifest`, 'count:exchanges')) >= 20);
    await redis.kill();
    await send(proxy, range('during', 30));
    await rec.waitFor('redis store unreachable: recording into the local spool until it returns');
    // The last batches wait on disk, not in memory.
    await until('a spooled batch file', async () => (await readdir(spoolDir)).some((n) => n.endsWith('.batch')));
    expect((await readdir(spoolDir)).filter((n) => n.endsWith('.batch')).length).toBeGreaterThan(0);
    // An operator sees the same from the admin API: spooling, what is held, and the bound. A batch
    // counts once its file is written whole, a moment after the file appears.
    await until('the admin API counting the spooled batch', async () => (await spoolState(admin)).batches > 0);
    const during = await spoolState(admin);
    expect(during.spooling).toBe(true);
    expect(during.batches).toBeGreaterThan(0);
    expect(during.bytes).toBeGreaterThan(0);
    expect(during.maxBytes).toBe(16 * 1024 * 1024);

    await redis.start();
    await rec.waitFor('redis store back: spool drained');
    expect(await readdir(spoolDir)).toEqual([]);
    expect(await spoolState(admin)).toEqual({ spooling: false, batches: 0, bytes: 0, maxBytes: 16 * 1024 * 1024 });
    await send(proxy, range('after', 20));
    expect(await metric(admin, 'doppel_record_dropped_total{reason="spool_full"}')).toBe(0);
    expect(await metric(admin, 'doppel_record_dropped_total{reason="store_error"}')).toBe(0);
    expect(await rec.stop()).toBe(0);

    const urls: string[] = [];
    for await (const ex of createRedisStoreReader([store]).read()) urls.push((ex as HttpExchange).http.request.url);
    // One writer: the stream keeps the order the exchanges were recorded in, the spooled ones included.
    expect(urls).toEqual([...range('before', 20), ...range('during', 30), ...range('after', 20)]);
    const raw = await rawClient(redis.url);
    expect(await raw.hget(`{${prefix}}:manifest`, 'count:exchanges')).toBe('70');
    expect(await raw.hget(`{${prefix}}:manifest`, 'count:inbound')).toBe('70');
  });

  it('what the spool cannot hold is dropped and counted (doppel_record_dropped_total{reason="spool_full"}); proxying goes on', async () => {
    const { work, redis } = await privateRedis('doppel-spoolfull-');
    const upstream = await echo();
    cleanups.push(() => upstream.close());
    const config = join(work.dir, 'doppel.yaml');
    // Smaller than any batch: once Redis is gone every exchange is dropped, none is held.
    await writeFile(config, `store:\n  spool:\n    dir: ${JSON.stringify(join(work.dir, 'spool'))}\n    max_bytes: 100b\n`);
    const rec = startCli(['record', '--config', config, '--out', `${redis.url}?prefix=${prefix}:full`, '--listen', '127.0.0.1:0', '--upstream', upstream.url, '--admin', '127.0.0.1:0'], {
      DOPPEL_REDACT_KEY: 'test-key',
    });
    cleanups.push(() => rec.stop());
    const proxy = `http://${(await rec.waitFor('record proxy listening')).address as string}`;
    const admin = (await rec.waitFor('admin api listening')).address as string;
    await redis.kill();
    await send(proxy, range('lost', 12));
    await rec.waitFor('redis store unreachable and the spool cannot hold more: exchanges dropped');
    await until('12 spool_full drops', async () => (await metric(admin, 'doppel_record_dropped_total{reason="spool_full"}')) >= 12);
    expect(await metric(admin, 'doppel_record_dropped_total{reason="spool_full"}')).toBe(12);
    expect(await metric(admin, 'doppel_exchanges_recorded_total{service="app",direction="inbound",protocol="http"}')).toBe(0);
    expect(await rec.stop()).toBe(0);
  });

  it('a batch Redis applied after its command timed out is not applied again when the spool drains it', async () => {
    const { work, redis } = await privateRedis('doppel-spooldup-');
    const store = `${redis.url}?prefix=${prefix}:dup`;
    const events: string[] = [];
    const w = await createRedisStoreWriter({
      url: store,
      commandTimeoutMs: 200,
      drainIntervalMs: 50,
      spool: { dir: join(work.dir, 'spool'), maxBytes: 1024 * 1024 },
      onSpool: (e) => events.push(e.kind),
    });
    const raw = await rawClient(redis.url);
    // Redis holds the batch past the writer's timeout, then applies it: the writer cannot know it landed.
    await raw.call('CLIENT', 'PAUSE', '1000', 'WRITE');
    await Promise.all(Array.from({ length: 10 }, (_, i) => w.append(httpExchange({ url: `/held/${i}` }))));
    expect(events).toContain('spooling');
    await until('the spool drained', () => events.includes('drained'));
    expect(events).toContain('drained');
    await w.append(httpExchange({ url: '/after' }));
    await w.close();
    const urls: string[] = [];
    for await (const ex of createRedisStoreReader([store]).read()) urls.push((ex as HttpExchange).http.request.url);
    expect(urls).toEqual([...range('held', 10), '/after']);
    expect(await raw.hget(`{${prefix}:dup}:manifest`, 'count:exchanges')).toBe('11');
  });

  it('a stop while Redis is away names the spool left behind; the next writer on that spool drains it, once', async () => {
    const { work, redis } = await privateRedis('doppel-spoolleft-');
    const store = `${redis.url}?prefix=${prefix}:left`;
    const spool = { dir: join(work.dir, 'spool'), maxBytes: 1024 * 1024 };
    const first = await createRedisStoreWriter({ url: store, spool, closeDrainMs: 300, drainIntervalMs: 50 });
    await first.append(httpExchange({ url: '/first/0' }));
    await first.flush();
    await redis.kill();
    await Promise.all(Array.from({ length: 5 }, (_, i) => first.append(httpExchange({ url: `/first/${i + 1}` }))));
    const err = await first.close().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'DOPPEL_STORE_IO' });
    expect((err as Error).message).toContain(spool.dir);
    // Another store's spool files in the same directory are not this store's to drain.
    await writeFile(join(spool.dir, 'ffffffffffff-other-000000000000001.batch'), '{"writer":"other","seq":1,"bytes":1,"counts":{},"services":[]}\n{}\n');

    await redis.start();
    const second = await createRedisStoreWriter({ url: store, spool, drainIntervalMs: 50 });
    await second.append(httpExchange({ url: '/second/0' }));
    await second.close();
    const urls: string[] = [];
    for await (const ex of createRedisStoreReader([store]).read()) urls.push((ex as HttpExchange).http.request.url);
    expect(urls).toEqual([...range('first', 6), '/second/0']);
    expect(await readdir(spool.dir)).toEqual(['ffffffffffff-other-000000000000001.batch']);
  });

  it('exits 2 naming the URL (never its password) when Redis is unreachable at start', async () => {
    const port = await freePort();
    const r = await runCli(['record', '--out', `redis://u:s3cret@127.0.0.1:${port}/0?prefix=${prefix}:none`, '--upstream', 'http://127.0.0.1:9', '--admin', '127.0.0.1:0'], {
      env: { DOPPEL_REDACT_KEY: 'test-key' },
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`redis://127.0.0.1:${port}/0?prefix=${prefix}:none: cannot connect to Redis`);
    expect(r.stderr).not.toContain('s3cret');
  });

  it('refuses a recorder id that cannot name a writer, exit 2 naming the key', async () => {
    const r = await runCli(['record', '--out', `redis://127.0.0.1:1/0?prefix=${prefix}:bad`, '--upstream', 'http://127.0.0.1:9', '--recorder-id', 'two words'], {
      env: { DOPPEL_REDACT_KEY: 'test-key' },
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('record.recorder_id');
    expect(r.stderr).toContain('"two words"');
  });
});
