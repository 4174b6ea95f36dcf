import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isClusterAvailable, startCluster } from '../helpers/redis-cluster.js';
import { expectWorkersEqualOneProcess, writeGates, writeSessionTraffic } from '../helpers/distributed-replay.js';
import { tempDir } from '../helpers/http.js';

const SESSIONS = 300;
const cluster = isClusterAvailable ? await startCluster() : undefined;

describe.skipIf(cluster === undefined)('distributed replay on a 3-node Redis Cluster', () => {
  const seed = cluster?.ports[0] ?? 0;
  const url = `redis://127.0.0.1:${seed}/0?cluster=1`;
  let dir: string;
  let cleanup: () => Promise<void>;
  let traffic: string;
  let gates: string;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('doppel-dist-cluster-'));
    traffic = join(dir, 'traffic');
    await writeSessionTraffic(traffic, SESSIONS);
    gates = await writeGates(dir);
  });
  afterAll(async () => {
    await cleanup();
    await cluster?.stop();
  });

  it('3 workers share one run through the cluster: every key of the run in one slot, each session once and in order, the merged report equal to one process', async () => {
    const runId = `dist-cluster-${randomUUID()}`;
    await expectWorkersEqualOneProcess({ url, runId, dir, traffic, gates, sessions: SESSIONS });
    // what is left of the run (partials, lines, group) sits in the slot of its hash tag
    const raw = new Cluster([{ host: '127.0.0.1', port: seed }], { lazyConnect: true });
    raw.on('error', () => undefined);
    try {
      await raw.connect();
      const tag = `{doppel:run:${runId}}`;
      const keys = [`${tag}:sessions`, `${tag}:partials`, `${tag}:results`, `${tag}:alive`];
      const slots = await Promise.all(keys.map((k) => raw.call('CLUSTER', 'KEYSLOT', k)));
      expect(new Set(slots).size).toBe(1);
      expect(await raw.hlen(`${tag}:partials`)).toBe(3);
    } finally {
      raw.disconnect();
    }
  }, 300_000);
});
