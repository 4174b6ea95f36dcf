/**
 * The service under test as a child process: started with its env, its
 * output captured to files, judged ready only when its health URL answers
 * 2xx continuously for `readySeconds`, and stopped as a whole process group.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DoppelError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';

export interface SutOptions {
  /** name for logs and files: "sut" or "baseline" */
  name: string;
  command: string;
  cwd: string;
  env: Readonly<Record<string, string | undefined>>;
  health: string;
  readySeconds: number;
  timeoutMs: number;
  /** stdout/stderr go to `${name}.stdout.log` / `${name}.stderr.log` here */
  logDir: string;
  log: Logger;
  pollIntervalMs?: number;
}

export interface SutProcess {
  readonly pid: number | undefined;
  /** resolves when the health URL answered 2xx for readySeconds without a break */
  waitReady(signal?: AbortSignal): Promise<void>;
  /** the last lines the process wrote, for error messages and reports */
  lastLines(): string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

const TAIL_LINES = 40;

function tailKeeper(): { push(chunk: Buffer): void; lines(): string[] } {
  const lines: string[] = [];
  let partial = '';
  return {
    push(chunk) {
      const parts = (partial + chunk.toString('utf8')).split('\n');
      partial = parts.pop() ?? '';
      for (const p of parts) {
        lines.push(p);
        if (lines.length > TAIL_LINES) lines.shift();
      }
    },
    lines: () => (partial ? [...lines, partial] : [...lines]).slice(-TAIL_LINES),
  };
}

async function probe(url: string, timeoutMs: number): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return res.status >= 200 && res.status < 300;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function startSut(opts: SutOptions): Promise<SutProcess> {
  await mkdir(opts.logDir, { recursive: true });
  const out: WriteStream = createWriteStream(join(opts.logDir, `${opts.name}.stdout.log`), { mode: 0o600 });
  const err: WriteStream = createWriteStream(join(opts.logDir, `${opts.name}.stderr.log`), { mode: 0o600 });
  const tail = tailKeeper();
  // A process group (detached) so stop() reaches the command's children too (npx, sh -c).
  const child: ChildProcess = spawn('sh', ['-c', opts.command], {
    cwd: opts.cwd,
    env: { ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  child.stdout?.on('data', (d: Buffer) => {
    out.write(d);
    tail.push(d);
  });
  child.stderr?.on('data', (d: Buffer) => {
    err.write(d);
    tail.push(d);
  });
  let hasExited = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      hasExited = true;
      resolve({ code, signal });
    });
    child.on('error', (e) => {
      hasExited = true;
      tail.push(Buffer.from(`spawn failed: ${e.message}\n`));
      resolve({ code: null, signal: null });
    });
  });
  const log = opts.log.child({ component: opts.name, pid: child.pid });
  log.info({ command: opts.command }, 'started');

  const kill = (sig: NodeJS.Signals) => {
    if (hasExited || child.pid === undefined) return;
    try {
      process.kill(-child.pid, sig);
    } catch {
      // already gone
    }
  };

  return {
    pid: child.pid,
    exited,
    lastLines: () => tail.lines(),
    async waitReady(signal) {
      const interval = opts.pollIntervalMs ?? 100;
      const deadline = Date.now() + opts.timeoutMs;
      let healthySince: number | undefined;
      for (;;) {
        if (signal?.aborted) throw new DoppelError('DOPPEL_RUN_ABORTED', `${opts.name}: stopped while waiting for readiness`);
        if (hasExited) {
          const { code, signal: sig } = await exited;
          throw new DoppelError(
            'DOPPEL_RUN_ABORTED',
            `${opts.name} exited before it was ready (${sig ? `signal ${sig}` : `exit code ${code}`}); last output:\n${tail.lines().slice(-10).join('\n')}`,
          );
        }
        const ok = await probe(opts.health, Math.max(500, interval * 5));
        const now = Date.now();
        if (ok) {
          healthySince ??= now;
          if (now - healthySince >= opts.readySeconds * 1000) {
            log.info({ health: opts.health }, 'ready');
            return;
          }
        } else {
          healthySince = undefined;
        }
        if (now > deadline) {
          throw new DoppelError(
            'DOPPEL_RUN_ABORTED',
            `${opts.name} never became ready: ${opts.health} did not answer 2xx for ${opts.readySeconds}s within ${Math.round(opts.timeoutMs / 1000)}s`,
          );
        }
        await sleep(interval);
      }
    },
    async stop() {
      kill('SIGTERM');
      const gone = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
      if (!gone) {
        kill('SIGKILL');
        await exited;
      }
      await Promise.all([new Promise<void>((r) => out.end(() => r())), new Promise<void>((r) => err.end(() => r()))]);
      log.info('stopped');
    },
  };
}
