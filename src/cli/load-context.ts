/**
 * The config side of running a command: the one config loaded with the
 * global and command flags over it, the context an action runs with, and the
 * gates a --gates file replaces. Imported when a command runs, never for
 * `--help`: config loading brings yaml and typebox with it.
 */
import { loadConfig, loadGatesFile } from '../config/load.js';
import { applyGlobalFlags } from '../config/overrides.js';
import { readRuntimeEnv } from '../config/env.js';
import type { ResolvedConfig } from '../config/resolve.js';
import type { CliIO, CommandConfigSource, CommandContext, GlobalFlags } from './context.js';

/** Loads the config once, before any work starts: a broken config or flag fails every command the same way. */
export function loadCommandContext<O>(io: CliIO, globals: GlobalFlags, flags: O, positional: readonly string[], source: CommandConfigSource<O>): CommandContext {
  const overrides = source.overrides?.(flags);
  const config = loadConfig(source.file?.(positional) ?? globals.config, io.env, (raw) => {
    applyGlobalFlags(raw, globals);
    overrides?.(raw);
  });
  return { io, runtime: readRuntimeEnv(io.env), globals, config };
}

/** quality_gates and cutoffs of the config, each replaced by the --gates file's when it has them. */
export function gatesOf(ctx: CommandContext, gatesFile: string | undefined): Pick<ResolvedConfig, 'quality_gates' | 'cutoffs'> {
  const { quality_gates, cutoffs } = ctx.config;
  if (gatesFile === undefined) return { quality_gates, cutoffs };
  const file = loadGatesFile(gatesFile, ctx.io.env);
  return { quality_gates: file.quality_gates ?? quality_gates, cutoffs: file.cutoffs ?? cutoffs };
}
