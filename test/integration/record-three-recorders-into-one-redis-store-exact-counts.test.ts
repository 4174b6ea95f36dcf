import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import type { HttpExchange } from '../../src/core/exchange.js';
import { createRedisStoreReader } from '../../src/store/redis-store.js';
import { startCli, type Running } from '../helpers/cli.js';
import { connectTestRedis, TEST_REDIS_URL } from '../helpers/redis.js';
import { startUpstream, tempDir } from '../helpers/http.js';

const REDIS = TEST_REDIS_URL;
const prefix = `doppel:test:threerec:${process.pid}:${randomUUID().slice(0, 8)}`;
const connected = await connectTestRedis();
const up = connected !== undefined;
const raw = connected as Redis;

const USERS = 3;
const PER_USER = 24;
const BURST = 150;

describe.skipIf(!up)('three recorders, one Redis store', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
    const keys = await raw.keys(`{${prefix}}*`);
    if (keys.length > 0) await raw.del(...keys);
    await raw.quit();
  });

  it('3 concurrent recorders produce the exact count: no loss, no duplicate, exact manifest, one session per user', async () => {
    const store = `${REDIS}?prefix=${prefix}`;
    const upstream = await startUpstream((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, ['Content-Type', 'application/json']);
        res.end(JSON.stringify({ url: req.url }));
      });
    });
    cleanups.push(() => upstream.close());
    const work = await tempDir('doppel-threerec-');
    cleanups.push(work.cleanup);
    const config = join(work.dir, 'doppel.yaml');
    await writeFile(config, 'sessions:\n  key: header:x-user\n');

    const recorders: Running[] = [];
    const proxies: string[] = [];
    for (const n of [1, 2, 3]) {
      const rec = startCli(
        ['record', '--config', config, '--out', store, '--listen', '127.0.0.1:0', '--upstream', upstream.url, '--service', 'orders', '--recorder-id', `rec-${n}`, '--admin', '127.0.0.1:0'],
        { DOPPEL_REDACT_KEY: 'test-key' },
      );
      recorders.push(rec);
      cleanups.push(() => rec.stop());
    }
    for (const rec of recorders) proxies.push(`http://${(await rec.waitFor('record proxy listening')).address as string}`);

    const get = async (base: string, path: string, headers: Record<string, string> = {}) => {
      const r = await request(`${base}${path}`, { headers });
      expect(r.statusCode).toBe(200);
      expect(await r.body.json()).toEqual({ url: path });
    };
    // Each user walks through the three replicas one request at a time; the users and a burst run at once.
    const users = Array.from({ length: USERS }, async (_, u) => {
      for (let i = 0; i < PER_USER; i++) await get(proxies[(u + i) % 3] as string, `/u${u}/${i}`, { 'x-user': `user-${u}` });
    });
    const burst = Array.from({ length: BURST }, (_, i) => get(proxies[i % 3] as string, `/burst/${i}`));
    await Promise.all([...users, ...burst]);
    for (const rec of recorders) expect(await rec.stop()).toBe(0);

    const total = USERS * PER_USER + BURST;
    const read: HttpExchange[] = [];
    for await (const ex of createRedisStoreReader([store]).read()) read.push(ex as HttpExchange);
    expect(read).toHaveLength(total);
    expect(new Set(read.map((e) => e.id)).size).toBe(total);
    const urls = read.map((e) => e.http.request.url).sort();
    const expected = [...Array.from({ length: USERS * PER_USER }, (_, i) => `/u${Math.floor(i / PER_USER)}/${i % PER_USER}`), ...Array.from({ length: BURST }, (_, i) => `/burst/${i}`)].sort();
    expect(urls).toEqual(expected);

    expect(await raw.xlen(`{${prefix}}:exchanges`)).toBe(total);
    const manifest = await raw.hgetall(`{${prefix}}:manifest`);
    expect(manifest).toMatchObject({
      format: 'doppel-traffic',
      version: '1',
      'count:exchanges': String(total),
      'count:inbound': String(total),
      'count:http': String(total),
      'service:orders': '1',
    });
    expect(manifest['count:outbound'] ?? '0').toBe('0');
    const writers = Object.keys(await raw.hgetall(`{${prefix}}:writers`)).map((w) => w.split('/')[0]).sort();
    expect(writers).toEqual(['rec-1', 'rec-2', 'rec-3']);

    // Header sessions are global: one user's requests through three replicas are one session, in recorded order.
    for (let u = 0; u < USERS; u++) {
      const session = read.filter((e) => e.session === `user-${u}`);
      expect(session.map((e) => e.http.request.url)).toEqual(Array.from({ length: PER_USER }, (_, i) => `/u${u}/${i}`));
    }
  });
});
