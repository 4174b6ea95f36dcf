/**
 * nginx as a baseline proxy for the HTTP/2 bench: one worker process,
 * h2c (prior knowledge) in, HTTP/1.1 keep-alive to the upstream (nginx's
 * proxy module speaks no h2 upstream). Optional: without an `nginx` binary
 * the bench says so and leaves the row out. CPU is read from /proc for the
 * master and its worker, since nginx answers no IPC.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, type Child } from './http-bench-load.js';

const run = promisify(execFile);
/** USER_HZ on Linux: /proc times are in these ticks */
const TICKS_PER_SECOND = 100;

export async function hasNginx(): Promise<boolean> {
  try {
    await run('nginx', ['-v']);
    return true;
  } catch {
    return false;
  }
}

async function procCpuMicros(pid: number): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // fields after the command name, which may hold spaces: state is field 3, utime 14, stime 15
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(rest[11]) + Number(rest[12])) * 1e6) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

async function childPids(pid: number): Promise<number[]> {
  try {
    const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
    return text.trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export async function startNginxH2cProxy(upstreamUrl: string): Promise<Child> {
  const dir = await mkdtemp(join(tmpdir(), 'doppel-bench-nginx-'));
  const port = await freePort();
  const up = new URL(upstreamUrl);
  const conf = `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream bench_upstream { server ${up.hostname}:${up.port}; keepalive 64; }
  server {
    listen 127.0.0.1:${port} http2;
    http2_max_concurrent_streams 128;
    # nginx closes a client connection after 1000 requests by default, and h2load does not reconnect
    keepalive_requests 100000000;
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering on;
    }
  }
}
`;
  await writeFile(join(dir, 'nginx.conf'), conf);
  const child: ChildProcess = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  // ready when the port answers a TCP connect
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited ${child.exitCode}: ${await readFile(join(dir, 'error.log'), 'utf8').catch(() => '')}`);
    try {
      await run('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`]);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error('nginx did not start listening within 10 s');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const pid = child.pid as number;
  return {
    url,
    child,
    cpuMicros: async () => {
      let total = await procCpuMicros(pid);
      for (const c of await childPids(pid)) total += await procCpuMicros(c);
      return total;
    },
    stop: async () => {
      if (child.exitCode === null) {
        await new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        });
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
