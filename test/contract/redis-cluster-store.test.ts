import { randomUUID } from 'node:crypto';
import { Cluster } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedisStoreWriter, parseRedisStoreUrl } from '../../src/store/redis-store.js';
import { httpExchange } from '../helpers/exchanges.js';
import { isClusterAvailable, startCluster } from '../helpers/redis-cluster.js';
import { describeStoreContract, redisStoreBackend } from './store-contract.js';

const isAvailable = isClusterAvailable;
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

const clusterBackend = redisStoreBackend('redis cluster', location, raw);

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
