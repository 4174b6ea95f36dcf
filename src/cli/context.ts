/**
 * What every command gets from main: its output streams, the environment,
 * an abort signal fired by SIGINT/SIGTERM, and the global flags.
 */
import type { Writable } from 'node:stream';
import type { LevelWithSilent } from 'pino';
import { loadConfig } from '../config/load.js';
import type { DoppelConfig } from '../config/schema.js';
import { readRuntimeEnv, type RuntimeEnv } from '../config/env.js';
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
}

export type CommandAction<O> = (opts: O, ctx: CommandContext, args: string[]) => Promise<ExitCode>;

export function createCommandContext(io: CliIO, globals: GlobalFlags): CommandContext {
  return { io, runtime: readRuntimeEnv(io.env), globals };
}

/**
 * Loads --config (if given) with flag overrides applied on top, then
 * validates and freezes. `overrides` writes flag values into the raw tree.
 */
export function loadCommandConfig(ctx: CommandContext, overrides?: (raw: Record<string, unknown>) => void): Readonly<DoppelConfig> {
  return loadConfig(ctx.globals.config, ctx.io.env, (raw) => {
    applyGlobalFlags(raw, ctx.globals);
    overrides?.(raw);
  });
}

/** Writes the global flags that have a config key (--log-level, --log-format, --admin) into a raw config tree. */
export function applyGlobalFlags(raw: Record<string, unknown>, globals: GlobalFlags): void {
  if (globals.logLevel !== undefined) setIn(raw, ['log', 'level'], globals.logLevel);
  if (globals.logFormat !== undefined) setIn(raw, ['log', 'format'], globals.logFormat);
  if (globals.admin !== undefined) setIn(raw, ['admin', 'listen'], globals.admin);
}

/** Sets a value deep in a raw config tree, creating maps on the way. */
export function setIn(raw: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = raw;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i] as string;
    const next = node[key];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
}

/** Commander collector for repeatable flags. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Commander parser for comma-separated lists that may also repeat. */
export function collectList(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(',').map((s) => s.trim()).filter((s) => s !== '')];
}

/** A numeric flag goes into the config as a number when it is one, else as given, so validation names the bad value. */
export function numeric(v: string): number | string {
  const n = Number(v);
  return v.trim() !== '' && Number.isFinite(n) ? n : v;
}
