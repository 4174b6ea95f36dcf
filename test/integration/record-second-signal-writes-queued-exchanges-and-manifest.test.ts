import { randomUUID } from 'node:crypto';
import { readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { HttpExchange } from '../../src/core/exchange.js';
import { readStoreManifest } from '../../src/store/file-store.js';
import { createRedisStoreReader } from '../../src/store/redis-store.js';
import { startCli, type Running } from '../helpers/cli.js';
import { startRecordLoad } from '../helpers/record-load.js';
import { connectTestRedis, TEST_REDIS_URL } from '../helpers/redis.js';
import { until } from '../helpers/until.js';
import { readExchanges, startUpstream, tempDir, type Upstream } from '../helpers/http.js';

/**
 * A process supervisor stops a service with one signal and, when in a hurry,
 * a second right after it (SIGINT then SIGTERM). The second one must not
 * throw away what the recorder already holds: the queued exchanges and the
 * manifest are written synchronously before the process exits (exit 3).
 */

const connected = await connectTestRedis();
const prefix = `doppel:test:second-signal:${process.pid}:${randomUUID().slice(0, 8)}`;

async function echo(): Promise<Upstream> {
  return startUpstream((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, ['Content-Type', 'application/json']);
      res.end(JSON.stringify({ url: req.url, pad: 'x'.repeat(512) }));
    });
  });
}

/** Starts a recorder, loads it until `atLeast` requests are acknowledged, then sends SIGINT and SIGTERM back to back. */
async function recordThenSignalTwice(args: string[], atLeast: number): Promise<{ acked: readonly string[]; code: number | null; rec: Running }> {
  const rec = startCli(['record', ...args, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], { DOPPEL_REDACT_KEY: 'test-key' });
  let load: ReturnType<typeof startRecordLoad> | undefined;
  try {
    const proxy = `http://${(await rec.waitFor('record proxy listening')).address as string}`;
    load = startRecordLoad(proxy, 8);
    const l = load;
    await until(`${atLeast} acknowledged requests`, () => l.acked.length >= atLeast, 30_000);
  } catch (err) {
    rec.child.kill('SIGKILL');
    await load?.stop();
    throw err;
  }
  const exited = new Promise<number | null>((r) => rec.child.once('exit', (code) => r(code)));
  rec.child.kill('SIGINT');
  rec.child.kill('SIGTERM');
  const code = await exited;
  await load.stop();
  return { acked: load.acked, code, rec };
}

describe('a second signal right after the first', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  for (const gzip of [false, true]) {
    it(`file store${gzip ? ' (gzip)' : ''}: what was queued and manifest.json are written, and the manifest counts what reads back`, async () => {
      const upstream = await echo();
      cleanups.push(() => upstream.close());
      const work = await tempDir('doppel-2sig-');
      cleanups.push(work.cleanup);
      const out = join(work.dir, 'traffic');
      const { acked, code, rec } = await recordThenSignalTwice(['--out', out, '--upstream', upstream.url, ...(gzip ? ['--gzip'] : [])], 300);

      expect(code).toBe(3);
      const forced = rec.logs.find((l) => l.msg === 'forced stop: queued exchanges and the manifest written');
      expect(forced, JSON.stringify(rec.logs.slice(-5))).toBeDefined();
      expect(forced?.lost).toBe(0);
      process.stdout.write(`file store${gzip ? ' (gzip)' : ''}: forced stop wrote ${String(forced?.written)} queued exchanges, lost 0; ${acked.length} acknowledged\n`);
      expect(await stat(join(out, 'manifest.json'))).toBeTruthy();
      const manifest = await readStoreManifest(out);
      const back = await readExchanges(out);
      expect(manifest?.counts.exchanges).toBe(back.length);
      expect(manifest?.counts.inbound).toBe(back.length);
      // Every request the client saw answered had been offered to the recorder: none is missing.
      const urls = new Set(back.map((e) => e.http.request.url));
      expect(acked.filter((u) => !urls.has(u))).toEqual([]);
      expect(back.length).toBe(urls.size);
      expect((await readdir(out)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    });
  }

  it.skipIf(connected === undefined)('Redis store: what was queued goes to the spool synchronously, and the next recorder applies it exactly once', async () => {
    const raw = connected as Redis;
    cleanups.push(async () => {
      const keys = await raw.keys(`{${prefix}}*`);
      if (keys.length > 0) await raw.del(...keys);
      await raw.quit();
    });
    const upstream = await echo();
    cleanups.push(() => upstream.close());
    const work = await tempDir('doppel-2sig-redis-');
    cleanups.push(work.cleanup);
    const spool = join(work.dir, 'spool');
    const config = join(work.dir, 'doppel.yaml');
    await writeFile(config, `store:\n  spool:\n    dir: ${JSON.stringify(spool)}\n    max_bytes: 64mb\n`);
    const store = `${TEST_REDIS_URL}?prefix=${prefix}`;
    const { acked, code, rec } = await recordThenSignalTwice(['--config', config, '--out', store, '--upstream', upstream.url], 300);

    expect(code).toBe(3);
    const forced = rec.logs.find((l) => l.msg === 'forced stop: queued exchanges and the manifest written');
    expect(forced, JSON.stringify(rec.logs.slice(-5))).toBeDefined();
    expect(forced?.lost).toBe(0);
    expect(String(forced?.where)).toContain(spool);
    process.stdout.write(`Redis store: forced stop spooled ${String(forced?.written)} queued exchanges, lost 0; ${acked.length} acknowledged\n`);

    // The next recorder with that spool directory drains it into the store before its own clean stop.
    const next = startCli(['record', '--config', config, '--out', store, '--upstream', upstream.url, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], {
      DOPPEL_REDACT_KEY: 'test-key',
    });
    await next.waitFor('recording; stop with Ctrl-C');
    expect(await next.stop()).toBe(0);
    expect((await readdir(spool)).filter((n) => n.endsWith('.batch'))).toEqual([]);

    const urls: string[] = [];
    for await (const ex of createRedisStoreReader([store]).read()) urls.push((ex as HttpExchange).http.request.url);
    expect(Number(await raw.hget(`{${prefix}}:manifest`, 'count:exchanges'))).toBe(urls.length);
    const seen = new Set(urls);
    // Exactly once: a batch both sent and spooled is not applied twice.
    expect(seen.size).toBe(urls.length);
    expect(acked.filter((u) => !seen.has(u))).toEqual([]);
  });
});
