import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomInt, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedisStoreReader, createRedisStoreWriter, parseRedisStoreUrl } from '../../src/store/redis-store.js';
import { httpExchange } from '../helpers/exchanges.js';
import { findExecutable, missingTool } from '../helpers/services.js';
import { describeStoreContract, type StoreBackend } from './store-contract.js';

const server = missingTool('redis-server', 'redis-server') === undefined ? findExecutable('redis-server') : undefined;
const cli = missingTool('redis-cli', 'redis-tools') === undefined ? findExecutable('redis-cli') : undefined;

async function isFree(port: number): Promise<boolean> {
  const s = createServer();
  return new Promise((resolve) => {
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A port whose cluster bus port (+10000) is free too, below the ephemeral range. */
async function clusterPort(taken: number[]): Promise<number> {
  for (;;) {
    const p = randomInt(20_000, 29_000);
    if (!taken.includes(p) && (await isFree(p)) && (await isFree(p + 10_000))) return p;
  }
}

async function ping(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    r.on('error', () => undefined);
    try {
      await r.connect();
      const state = String(await r.call('CLUSTER', 'INFO'));
      r.disconnect();
      if (state.includes('cluster_state:ok')) return;
    } catch {
      r.disconnect();
    }
    if (Date.now() > deadline) throw new Error(`cluster node ${port} not ready`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** Three masters on spare ports, slots spread by redis-cli --cluster create. */
async function startCluster(): Promise<{ ports: number[]; stop: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'doppel-cluster-'));
  const ports: number[] = [];
  for (let i = 0; i < 3; i++) ports.push(await clusterPort(ports));
  const nodes: ChildProcess[] = ports.map((p) =>
    spawn(server as string, ['--port', String(p), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${p}.conf`, '--dir', dir, '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    }),
  );
  const stop = async () => {
    await Promise.all(
      nodes.map((n) => (n.exitCode !== null ? Promise.resolve() : new Promise<void>((r) => (n.once('exit', () => r()), n.kill('SIGKILL'))))),
    );
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await new Promise((r) => setTimeout(r, 300));
    await promisify(execFile)(cli as string, ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    for (const p of ports) await ping(p);
  } catch (err) {
    await stop();
    throw err;
  }
  return { ports, stop };
}

const isAvailable = server !== undefined && cli !== undefined;
const cluster = isAvailable ? await startCluster() : undefined;
const seed = cluster?.ports[0] ?? 0;
const raw = new Cluster([{ host: '127.0.0.1', port: seed }], { lazyConnect: true });
raw.on('error', () => undefined);
const run = `doppel:test:cluster:${process.pid}:${randomUUID().slice(0, 8)}`;
let n = 0;
const location = (): string => `redis://127.0.0.1:${seed}/0?prefix=${run}:${++n}&cluster=1`;

afterAll(async () => {
  raw.disconnect();
  await cluster?.stop();
});

const clusterBackend: StoreBackend = {
  name: 'redis cluster',
  location: () => Promise.resolve(location()),
  writer: (url) => createRedisStoreWriter({ url, flushIntervalMs: 5 }),
  reader: (urls) => createRedisStoreReader(urls),
  async appendTornTail(url) {
    await raw.xadd(parseRedisStoreUrl(url).streamKey, '*', 'x', '{"v":1,"id":"01TORN","session":"s","dire');
  },
  async corruptOneRecord(url) {
    const key = parseRedisStoreUrl(url).streamKey;
    const entries = await raw.xrange(key, '-', '+');
    const p = raw.multi().del(key);
    entries.forEach(([id, fields], i) => p.xadd(key, id, ...(i === 2 ? ['x', '{"v":1, this is not json'] : fields)));
    await p.exec();
  },
};

describe.skipIf(!isAvailable)('redis cluster backend', () => {
  describeStoreContract(clusterBackend);

  it('spreads stores over the nodes and keeps every key of one store in one slot', async () => {
    const slots = new Set<number>();
    for (let i = 0; i < 12; i++) {
      const url = location();
      const loc = parseRedisStoreUrl(url);
      const w = await createRedisStoreWriter({ url });
      await Promise.all(Array.from({ length: 3 }, () => w.append(httpExchange())));
      await w.close();
      const keySlots = await Promise.all([loc.streamKey, loc.manifestKey, loc.writersKey].map((k) => raw.call('CLUSTER', 'KEYSLOT', k)));
      expect(new Set(keySlots).size).toBe(1);
      slots.add(Number(keySlots[0]));
      expect(await raw.hget(loc.manifestKey, 'count:exchanges')).toBe('3');
    }
    // Twelve prefixes over three masters: more than one node took a store.
    const owners = new Set<string>();
    const table = (await raw.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>;
    for (const s of slots) for (const [lo, hi, [, port]] of table) if (s >= lo && s <= hi) owners.add(String(port));
    expect(owners.size).toBeGreaterThan(1);
  });
});
