/**
 * `doppel replay --workers N`: N workers running this same command line, one
 * per core by default. With --coordinator they are N processes joining the
 * Redis run like any other worker; without, this process holds the run in
 * memory, plays the first worker itself, and the N-1 worker processes it
 * starts reach the run over their IPC channel. A worker process that dies has
 * its sessions handed to the others at once. The exit code is the verdict of
 * the worker that wrote the merged report.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism, hostname } from 'node:os';
import { ExitCode, usageError } from '../core/errors.js';
import { newRunId } from '../core/ids.js';
import { isRunRequest, type RunReply } from '../replay/coordinate/ipc-coordinator.js';
import { MemoryRun } from '../replay/coordinate/memory-run.js';
import { claimTimeoutMs } from './replay-coordination.js';
import type { CommandContext } from './context.js';

export interface WorkersFlags {
  workers?: string | boolean;
  runId?: string;
  coordinator?: string;
  claimTimeout?: string;
}

export function workerCount(value: string | boolean): number {
  if (value === true) return availableParallelism();
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || n < 1 || n > 1024) throw usageError(`--workers: expected a number of workers from 1 to 1024, got ${JSON.stringify(value)}`);
  return n;
}

/** This command line without --workers [N]: what every worker runs. */
export function workerArgs(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a.startsWith('--workers=')) continue;
    if (a === '--workers') {
      if (/^\d+$/.test(argv[i + 1] ?? '')) i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

/** Plays worker `worker` of the in-process `run` in this process: its exit code. */
export type InProcessWorker = (worker: string, run: MemoryRun, runId: string) => Promise<ExitCode>;

export async function runLocalWorkers(flags: WorkersFlags, ctx: CommandContext, inProcess?: InProcessWorker): Promise<ExitCode> {
  const n = workerCount(flags.workers ?? true);
  const runId = flags.runId ?? newRunId(Date.now());
  const args = workerArgs(process.argv.slice(2));
  if (flags.runId === undefined) args.push('--run-id', runId);
  const run = flags.coordinator === undefined ? new MemoryRun({ claimTimeoutMs: claimTimeoutMs(flags.claimTimeout), workers: n }) : undefined;
  // Holding the run takes little: this process plays the first worker itself rather than
  // start one more process for it (the parent cost 6-7 us a request over IPC as a process apart).
  const local = run !== undefined && inProcess !== undefined ? { run, play: inProcess } : undefined;
  const codes = new Map<string, number | null>();
  const children: ChildProcess[] = [];
  const exits: Array<Promise<void>> = [];
  for (let i = local === undefined ? 1 : 2; i <= n; i++) {
    const worker = `w${i}`;
    const own = run === undefined ? ['--worker-id', `${hostname()}-${process.pid}-${worker}`] : ['--ipc-worker', worker];
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1] as string, ...args, ...own], {
      cwd: ctx.io.cwd,
      env: { ...ctx.io.env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // A process group of its own: a Ctrl-C reaches this process only, which stops the workers
      // with one SIGTERM. In the terminal's group a worker got the SIGINT and then that SIGTERM,
      // and a second signal is a forced stop: its unfinished share was dropped from the report.
      detached: true,
    });
    children.push(child);
    child.on('message', (m: unknown) => {
      if (!isRunRequest(m) || run === undefined) return;
      let reply: RunReply;
      try {
        reply = { doppel: 'run-reply', id: m.id, result: run.call(m) };
      } catch (err) {
        reply = { doppel: 'run-reply', id: m.id, error: (err as Error).message };
      }
      if (child.connected) child.send(reply);
    });
    exits.push(
      new Promise<void>((resolve) => {
        child.once('exit', (code) => {
          codes.set(worker, code);
          run?.lost(worker);
          resolve();
        });
      }),
    );
  }
  let ownError: Error | undefined;
  if (local !== undefined) {
    exits.push(
      local.play('w1', local.run, runId).then(
        (code) => void codes.set('w1', code),
        (err: unknown) => {
          // As a worker process that died: the others take its sessions.
          ownError = err instanceof Error ? err : new Error(String(err));
          codes.set('w1', null);
          local.run.lost('w1');
        },
      ),
    );
  }
  const stop = () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  };
  ctx.io.signal.addEventListener('abort', stop, { once: true });
  // A second signal here is a second one for the workers too: they write what is queued and exit.
  const unhookForcedStop = ctx.io.forcedStop?.add(stop);
  try {
    await Promise.all(exits);
  } finally {
    ctx.io.signal.removeEventListener('abort', stop);
    unhookForcedStop?.();
  }
  const reporter = run?.reporter();
  const code = reporter === undefined ? undefined : codes.get(reporter);
  if (code !== undefined && code !== null) {
    if (ownError !== undefined) ctx.io.stderr.write(`doppel: worker w1 failed, and the other workers replayed its sessions: ${ownError.message}\n`);
    return code as ExitCode;
  }
  if (ownError !== undefined) throw ownError;
  // With Redis the reporter is one of the workers: the worst exit code stands for the run.
  const known = [...codes.values()].filter((c): c is number => c !== null);
  return (known.length === 0 ? ExitCode.internal : Math.max(...known)) as ExitCode;
}
