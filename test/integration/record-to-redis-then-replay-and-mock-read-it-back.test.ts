import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startCli } from '../helpers/cli.js';
import { connectTestRedis, TEST_REDIS_URL } from '../helpers/redis.js';
import { startUpstream, tempDir, type Upstream } from '../helpers/http.js';

const REDIS = TEST_REDIS_URL;
const prefix = `doppel:test:cli:${process.pid}:${randomUUID().slice(0, 8)}`;
const connected = await connectTestRedis();
const up = connected !== undefined;
const raw = connected as Redis;

describe.skipIf(!up)('record to a redis:// store, then read it back', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
    const keys = await raw.keys(`{${prefix}*`);
    if (keys.length > 0) await raw.del(...keys);
    await raw.quit();
  });

  it('doppel record --out redis://... stores exchanges that doppel replay and doppel mock --traffic redis://... read', async () => {
    const store = `${REDIS}?prefix=${prefix}`;
    const orders: Upstream = await startUpstream((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, ['Content-Type', 'application/json']);
        res.end(JSON.stringify({ order: req.url }));
      });
    });
    cleanups.push(() => orders.close());

    const rec = startCli(['record', '--out', store, '--listen', '127.0.0.1:0', '--upstream', orders.url, '--service', 'orders'], { DOPPEL_REDACT_KEY: 'test-key' });
    cleanups.push(() => rec.stop());
    const inbound = await rec.waitFor('record proxy listening');
    for (const id of [1, 2, 3]) {
      const r = await request(`http://${inbound.address as string}/orders/${id}`);
      expect(await r.body.json()).toEqual({ order: `/orders/${id}` });
    }
    expect(await rec.stop()).toBe(0);
    expect(await raw.xlen(`{${prefix}}:exchanges`)).toBe(3);
    expect(await raw.hget(`{${prefix}}:manifest`, 'count:inbound')).toBe('3');

    const report = await tempDir('doppel-redis-replay-');
    cleanups.push(report.cleanup);
    const replay = await runCli(['replay', '--traffic', store, '--target', orders.url, '--report', report.dir, '--time-scale', '1000', '--log-level', 'warn'], { env: { CI: '' } });
    expect(replay.code, replay.stderr).toBe(0);
    const summary = JSON.parse(readFileSync(join(report.dir, 'summary.json'), 'utf8')) as { counts: { requests: number; bodyMatch: number } };
    expect(summary.counts).toMatchObject({ requests: 3, bodyMatch: 3 });

    const mock = startCli(['mock', '--traffic', store, '--http-dep', 'orders=127.0.0.1:0']);
    cleanups.push(() => mock.stop());
    const mockLine = await mock.waitFor('http mock listening');
    const hit = await request(`http://${mockLine.address as string}/orders/2`);
    expect(hit.statusCode).toBe(200);
    expect(await hit.body.json()).toEqual({ order: '/orders/2' });
  });

  it('doppel replay exits 2 naming the URL when no store is at that prefix', async () => {
    const missing = `${REDIS}?prefix=${prefix}:missing`;
    const r = await runCli(['replay', '--traffic', missing, '--target', 'http://127.0.0.1:9', '--log-level', 'warn'], { env: { CI: '' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`prefix=${prefix}:missing`);
  });
});
