import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';

/**
 * A private redis-server this test may kill and restart (the shared one on
 * 6379 stays up for everyone else). The append-only file in `dir` keeps what
 * was acknowledged across a kill, as a production Redis with AOF would.
 */
export interface RedisProcess {
  port: number;
  url: string;
  start(): Promise<void>;
  kill(): Promise<void>;
}

export function redisProcess(bin: string, port: number, dir: string): RedisProcess {
  let child: ChildProcess | undefined;
  const url = `redis://127.0.0.1:${port}/0`;
  return {
    port,
    url,
    async start() {
      child = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir], {
        stdio: 'ignore',
      });
      const deadline = Date.now() + 10_000;
      for (;;) {
        const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
        probe.on('error', () => undefined);
        try {
          await probe.connect();
          await probe.ping();
          probe.disconnect();
          return;
        } catch {
          probe.disconnect();
          if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start`);
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    },
    async kill() {
      const c = child;
      child = undefined;
      if (c === undefined || c.exitCode !== null) return;
      const exited = new Promise<void>((r) => c.once('exit', () => r()));
      c.kill('SIGKILL');
      await exited;
    },
  };
}
