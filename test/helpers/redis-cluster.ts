/**
 * A private 3-master Redis Cluster on spare ports, for the tests that must
 * pass against Redis Cluster (the store contract, the distributed replay).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { findExecutable, missingTool } from './services.js';

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
export async function startCluster(): Promise<{ ports: number[]; stop: () => Promise<void> }> {
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

export const isClusterAvailable = server !== undefined && cli !== undefined;
