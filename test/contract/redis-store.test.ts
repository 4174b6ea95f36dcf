import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DoppelError } from '../../src/core/errors.js';
import { createRedisStoreReader, createRedisStoreWriter, parseRedisStoreUrl } from '../../src/store/redis-store.js';
import { httpExchange } from '../helpers/exchanges.js';
import { connectTestRedis, TEST_REDIS_URL } from '../helpers/redis.js';
import { describeStoreContract, redisStoreBackend } from './store-contract.js';

const REDIS = TEST_REDIS_URL;
const run = `doppel:test:${process.pid}:${randomUUID().slice(0, 8)}`;
const connected = await connectTestRedis();
const up = connected !== undefined;
const raw = connected as Redis;

let n = 0;
const location = (): string => `${REDIS}?prefix=${run}:${++n}`;

const redisBackend = redisStoreBackend('redis', location, raw);

afterAll(async () => {
  if (!up) return;
  const keys = await raw.keys(`{${run}:*`);
  if (keys.length > 0) await raw.del(...keys);
  await raw.quit();
});

describe.skipIf(!up)('redis backend', () => {
  describeStoreContract(redisBackend);

  describe('redis store specifics', () => {
    let url = '';
    beforeAll(() => {
      url = location();
    });

    it('keeps both keys of a store in one cluster slot and writes a manifest hash', async () => {
      const loc = parseRedisStoreUrl(url);
      expect(loc.streamKey).toBe(`{${run}:${n}}:exchanges`);
      expect(loc.manifestKey.startsWith(`{${run}:${n}}:`)).toBe(true);
      const w = await createRedisStoreWriter({ url });
      await w.append(httpExchange());
      await w.close();
      const m = await raw.hgetall(loc.manifestKey);
      expect(m).toMatchObject({ format: 'doppel-traffic', version: '1', 'count:exchanges': '1', 'count:inbound': '1', 'count:http': '1', 'service:orders': '1' });
      expect(Number(m.bytes)).toBe(w.bytesWritten);
    });

    it('appends to an existing store when reopened and resumes its byte count', async () => {
      const w1 = await createRedisStoreWriter({ url });
      expect(w1.bytesWritten).toBeGreaterThan(100);
      const before = w1.bytesWritten;
      await w1.append(httpExchange({ url: '/two' }));
      await w1.close();
      const urls: string[] = [];
      for await (const ex of createRedisStoreReader([url]).read()) urls.push(ex.protocol === 'http' ? ex.http.request.url : '');
      expect(urls).toEqual(['/orders/1', '/two']);
      expect(w1.bytesWritten).toBeGreaterThan(before);
    });

    it('streams a store larger than one page', async () => {
      const big = location();
      const w = await createRedisStoreWriter({ url: big, batchItems: 100 });
      await Promise.all(Array.from({ length: 1201 }, (_, i) => w.append(httpExchange({ url: `/p/${i}` }))));
      await w.close();
      let count = 0;
      for await (const ex of createRedisStoreReader([big]).read()) {
        expect(ex.protocol === 'http' ? ex.http.request.url : '').toBe(`/p/${count}`);
        count++;
      }
      expect(count).toBe(1201);
    });

    it('refuses an unknown exchange format version, naming key, index and version', async () => {
      const u = location();
      const w = await createRedisStoreWriter({ url: u });
      await w.append(httpExchange());
      await w.close();
      const key = parseRedisStoreUrl(u).streamKey;
      await raw.xadd(key, '*', 'x', '{"v":2,"id":"x","protocol":"http","direction":"inbound","http":{}}');
      const read = async () => {
        for await (const _ of createRedisStoreReader([u]).read()) void _;
      };
      await expect(read()).rejects.toThrow(`${key}:2: exchange format version 2 is not supported`);
    });

    it('refuses a manifest of an unknown version, naming the key', async () => {
      const u = location();
      const loc = parseRedisStoreUrl(u);
      await raw.hset(loc.manifestKey, 'format', 'doppel-traffic', 'version', '9');
      const read = async () => {
        for await (const _ of createRedisStoreReader([u]).read()) void _;
      };
      await expect(read()).rejects.toThrow(`${loc.manifestKey}: traffic format doppel-traffic version 9 is not supported`);
      await expect(createRedisStoreWriter({ url: u })).rejects.toMatchObject({ code: 'DOPPEL_STORE_VERSION' });
    });

    it('names a missing store by its URL', async () => {
      const u = location();
      const read = async () => {
        for await (const _ of createRedisStoreReader([u]).read()) void _;
      };
      await expect(read()).rejects.toBeInstanceOf(DoppelError);
      await expect(read()).rejects.toMatchObject({ code: 'DOPPEL_STORE_NOT_FOUND' });
      await expect(read()).rejects.toThrow(`prefix=${run}:${n}`);
    });

    it('fails with DOPPEL_STORE_UNREACHABLE (exit 2) naming the URL, without its password, when Redis is unreachable', async () => {
      const u = 'redis://user:s3cret@127.0.0.1:1/0?prefix=nowhere';
      const err = await createRedisStoreWriter({ url: u }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'DOPPEL_STORE_UNREACHABLE', exitCode: 2 });
      expect((err as Error).message).toContain('redis://127.0.0.1:1/0?prefix=nowhere');
      expect((err as Error).message).not.toContain('s3cret');
    });

    it('rejects bad store URLs', () => {
      expect(() => parseRedisStoreUrl('redis://127.0.0.1/abc')).toThrow(/database must be a number/);
      expect(() => parseRedisStoreUrl('redis://127.0.0.1/0?prefix={x}')).toThrow(/prefix/);
      expect(() => parseRedisStoreUrl('redis://127.0.0.1/2?cluster=1')).toThrow(/only database 0/);
    });
  });
});

describe.skipIf(!up)('redis store forced stop', () => {
  for (const turns of [0, 1, 4]) {
    it(`${turns} event-loop turns into the writes: the batch in flight and the queued ones go to the spool, and the next writer applies each once`, async () => {
      const spool = await mkdtemp(join(tmpdir(), 'doppel-forced-spool-'));
      try {
        const url = location();
        const w = await createRedisStoreWriter({ url, batchItems: 20, flushIntervalMs: 1, spool: { dir: spool, maxBytes: 64 * 1024 * 1024 } });
        const written = Array.from({ length: 200 }, (_, i) => httpExchange({ url: `/forced/${i}` }));
        for (const ex of written) void w.append(ex).catch(() => undefined);
        for (let t = 0; t < turns; t++) await new Promise((r) => setImmediate(r));
        const r = w.flushSync?.(Date.now() + 5000);
        expect(r?.lost).toBe(0);
        expect(r?.where).toBe(`spool ${spool}`);
        // Nothing reached Redis after the stop; the next writer with this spool drains it.
        const next = await createRedisStoreWriter({ url, spool: { dir: spool, maxBytes: 64 * 1024 * 1024 }, drainIntervalMs: 10 });
        await next.close();
        expect(await readdir(spool)).toEqual([]);
        const back: string[] = [];
        for await (const ex of createRedisStoreReader([url]).read()) back.push((ex as { http: { request: { url: string } } }).http.request.url);
        expect(back).toEqual(written.map((e) => e.http.request.url));
        const manifest = await raw.hget(parseRedisStoreUrl(url).manifestKey, 'count:exchanges');
        expect(Number(manifest)).toBe(200);
      } finally {
        await rm(spool, { recursive: true, force: true });
      }
    });
  }
});
