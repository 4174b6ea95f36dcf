import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const DOPPEL_BIN = fileURLToPath(new URL('../../bin/doppel.js', import.meta.url));
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The environment of every doppel child: the sources of this tree, never a
 * dist/ build that may be stale (bin/doppel.js honours DOPPEL_ENTRY).
 */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, DOPPEL_ENTRY: 'src', ...extra };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `doppel` binary as a child process. */
export function runCli(args: string[], opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DOPPEL_BIN, ...args], {
      cwd: opts.cwd ?? process.cwd(),
      env: cliEnv(opts.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A long-running doppel command whose pino log lines (stderr) can be awaited. */
export interface Running {
  child: ChildProcess;
  logs: Array<Record<string, unknown>>;
  waitFor(msg: string, pred?: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  stop(): Promise<number | null>;
}

export function startCli(args: string[], env: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, [DOPPEL_BIN, ...args], { cwd: ROOT, env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  let rest = '';
  let stderrText = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderrText += d.toString();
    rest += d.toString();
    const lines = rest.split('\n');
    rest = lines.pop() ?? '';
    for (const l of lines) {
      if (!l.startsWith('{')) continue;
      try {
        logs.push(JSON.parse(l));
      } catch {
        /* a partial line from another writer */
      }
    }
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    child,
    logs,
    async waitFor(msg, pred = () => true) {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const hit = logs.find((l) => l.msg === msg && pred(l));
        if (hit) return hit;
        if (child.exitCode !== null) throw new Error(`doppel exited ${child.exitCode}: ${stderrText}`);
        if (Date.now() > deadline) throw new Error(`no "${msg}" log line; stderr: ${stderrText}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200);
        });
      }
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGINT');
      return exited;
    },
  };
}
