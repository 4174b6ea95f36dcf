/**
 * What every command gets from main: its output streams, the environment,
 * an abort signal fired by SIGINT/SIGTERM, the global flags, and the one
 * resolved, frozen config (file + flag overrides) it runs with.
 *
 * Types and commander helpers only: every command's registration imports
 * this file, and `doppel --help` loads nothing a command's action needs.
 */
import type { Writable } from 'node:stream';
import type { LevelWithSilent } from 'pino';
import type { ConfigOverrides } from '../config/overrides.js';
import type { ResolvedConfig } from '../config/resolve.js';
import type { RuntimeEnv } from '../config/env.js';
import type { ExitCode } from '../core/errors.js';

export interface GlobalFlags {
  config?: string;
  admin?: string;
  logLevel?: LevelWithSilent;
  logFormat?: 'pretty' | 'json';
}

export interface CliIO {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  env: Readonly<Record<string, string | undefined>>;
  /** fired once on SIGINT/SIGTERM: commands stop cleanly (flush, write report) */
  signal: AbortSignal;
  /** dispatches `reload` on SIGHUP: listeners re-read their certificates */
  reload?: EventTarget;
  /** registers what a second signal runs, synchronously, before the process exits */
  forcedStop?: ForcedStop;
  cwd: string;
}

/**
 * A second SIGINT/SIGTERM (supervisors send one right after the other) ends
 * the process at once: only synchronous work runs, each hook until `deadline`
 * (epoch ms). `add` returns the function that removes the hook.
 */
export interface ForcedStop {
  add(hook: (deadline: number) => void): () => void;
}

export interface CommandContext {
  io: CliIO;
  runtime: RuntimeEnv;
  globals: GlobalFlags;
  /** --config (or the command's config argument) with global and command flags applied, validated, resolved and frozen */
  config: Readonly<ResolvedConfig>;
}

export type CommandAction<O> = (opts: O, ctx: CommandContext, args: string[]) => Promise<ExitCode>;

/** Where a command's config comes from besides --config: flags that override keys, or a positional file. */
export interface CommandConfigSource<O> {
  /** writes the command's flags into the raw config tree; may throw a usage error for a malformed flag */
  overrides?: (flags: O) => ConfigOverrides;
  /** the config file named by a positional argument (`doppel run FILE`) instead of --config */
  file?: (args: readonly string[]) => string | undefined;
}

/** What a command's action module hands bind: the action, and where its config comes from besides --config. */
export interface LoadedCommand<O> extends CommandConfigSource<O> {
  action: CommandAction<O>;
}

/**
 * Binds a command action to commander: `load` imports the action's module
 * only when the command runs, so a start pays for one command's modules, and
 * `--help` for none. Then bind resolves globals, loads the one config (file,
 * then global and command flags, validated, resolved, frozen) before the
 * action runs, and records the exit code.
 */
export type Bind = <O>(load: () => Promise<LoadedCommand<O>>) => (...args: unknown[]) => Promise<void>;

/** Commander collector for repeatable flags. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Commander parser for comma-separated lists that may also repeat. */
export function collectList(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(',').map((s) => s.trim()).filter((s) => s !== '')];
}
