/**
 * Process entry: argv, signals, exit codes. Nothing else calls process.exit.
 * Exit codes (DESIGN.md): 0 ok, 1 gate failed, 2 usage/config/input, 3 aborted, 4 internal.
 */
import { CommanderError } from 'commander';
import { fileURLToPath } from 'node:url';
import { realpathSync } from 'node:fs';
import { buildProgram } from './cli/program.js';
import type { CliIO, ForcedStop } from './cli/context.js';
import { ExitCode, isDoppelError, describeError } from './core/errors.js';

export async function executeCommandLine(argv: readonly string[], io: CliIO): Promise<ExitCode> {
  let exit: ExitCode = ExitCode.ok;
  const program = buildProgram(io, (code) => {
    exit = code;
  });
  const debug = argv.includes('debug') && argv.some((a) => a === '--log-level' || a.startsWith('--log-level='));
  try {
    if (argv.length === 0) {
      program.outputHelp();
      return ExitCode.usage;
    }
    await program.parseAsync([...argv], { from: 'user' });
    return exit;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version are successes; every other parse failure is usage (2), not commander's 1.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return ExitCode.ok;
      return ExitCode.usage;
    }
    if (isDoppelError(err)) {
      io.stderr.write(`doppel: ${err.message}\n`);
      for (const line of err.details) io.stderr.write(`  ${line}\n`);
      if (debug && err.stack) io.stderr.write(`${err.stack}\n`);
      return err.exitCode;
    }
    // An uncaught error is a bug: one line for the person, the whole story in the log.
    // pino is loaded here, not at start: most runs never get this far.
    const { createLogger } = await import('./core/logger.js');
    const format = flagValue(argv, '--log-format');
    const log = createLogger({ level: 'error', destination: io.stderr, ...(format === 'json' || format === 'pretty' ? { format } : {}) });
    log.error({ err }, 'internal error');
    log.flush();
    io.stderr.write(`doppel: internal error: ${describeError(err)}${debug ? '' : ' (run with --log-level debug for the stack)'}\n`);
    if (debug && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
    return ExitCode.internal;
  }
}

/** The value of a global flag read before (or without) commander: `--flag v` or `--flag=v`. */
function flagValue(argv: readonly string[], flag: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === flag) return argv[i + 1];
    if (a.startsWith(`${flag}=`)) return a.slice(flag.length + 1);
  }
  return undefined;
}

/**
 * How long a forced stop may spend writing: well inside the grace supervisors
 * give between their signal and SIGKILL (Docker 10 s, Kubernetes 30 s, systemd 90 s).
 */
const FORCED_STOP_MS = 3000;

function createForcedStop(): ForcedStop & { run(deadline: number): void } {
  const hooks = new Set<(deadline: number) => void>();
  return {
    add(hook) {
      hooks.add(hook);
      return () => hooks.delete(hook);
    },
    run(deadline) {
      for (const hook of hooks) {
        try {
          hook(deadline);
        } catch (err) {
          process.stderr.write(`doppel: forced stop: ${describeError(err)}\n`);
        }
      }
    },
  };
}

/**
 * Runs the CLI as this process: signal handlers, the process's streams, the exit
 * code. bin/doppel.js calls it however doppel was started (npx, a .bin symlink,
 * a global install, the Docker image); importing this module starts nothing.
 */
export function main(argv: readonly string[] = process.argv.slice(2)): void {
  const controller = new AbortController();
  const forcedStop = createForcedStop();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    // A second signal means out now: what is queued is written synchronously, within a bound, then exit.
    if (signals > 1) {
      process.stderr.write(`doppel: ${sig} received again, stopping now: writing what is queued\n`);
      forcedStop.run(Date.now() + FORCED_STOP_MS);
      process.exit(ExitCode.aborted);
    }
    process.stderr.write(`doppel: ${sig} received, stopping cleanly (again to stop at once, writing what is queued)\n`);
    controller.abort(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // SIGHUP re-reads certificates (docs/tls.md) instead of ending the process.
  const reload = new EventTarget();
  process.on('SIGHUP', () => reload.dispatchEvent(new Event('reload')));
  process.on('uncaughtException', (err) => {
    process.stderr.write(`doppel: internal error: ${describeError(err)}\n`);
    process.exit(ExitCode.internal);
  });
  const io: CliIO = { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: controller.signal, reload, forcedStop, cwd: process.cwd() };
  executeCommandLine(argv, io).then(
    (code) => {
      process.exitCode = code;
      // Servers closed, streams flushed: let the loop drain, but never hang on a stray handle.
      setTimeout(() => process.exit(code), 2000).unref();
    },
    (err: unknown) => {
      process.stderr.write(`doppel: internal error: ${describeError(err)}\n`);
      process.exit(ExitCode.internal);
    },
  );
}

/**
 * True when node was started on this very file (`node dist/main.js`,
 * `tsx src/main.ts`): node resolves the main module's symlinks, so the real
 * paths of argv[1] and of this module are equal exactly then. Not a guess
 * about launchers: every other start goes through bin/doppel.js, which calls main().
 */
function isStartedDirectly(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isStartedDirectly()) main();
