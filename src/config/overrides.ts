/**
 * Command-line flags as config: each flag that has a config key is written
 * into the raw tree before validation, so a bad flag value is reported like a
 * bad file value, and every command gets one resolved config. Flag values
 * that are not config keys but use its grammar (a duration) are parsed here
 * too, at the edge.
 */
import { usageError } from '../core/errors.js';
import { parseDurationMs } from './duration.js';

/** Writes a value into the raw config tree before validation. */
export type ConfigOverrides = (raw: Record<string, unknown>) => void;

/** Global flags that have a config key: --log-level, --log-format, --admin. */
export interface GlobalConfigFlags {
  admin?: string;
  logLevel?: string;
  logFormat?: string;
}

/** Writes the global flags that have a config key into a raw config tree. */
export function applyGlobalFlags(raw: Record<string, unknown>, globals: GlobalConfigFlags): void {
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

/** A numeric flag goes into the config as a number when it is one, else as given, so validation names the bad value. */
export function numeric(v: string): number | string {
  const n = Number(v);
  return v.trim() !== '' && Number.isFinite(n) ? n : v;
}

/** A positive duration flag that is no config key (e.g. `rules --window 5m`), in milliseconds; exit 2 naming the flag otherwise. */
export function flagDurationMs(flag: string, value: string): number {
  const ms = parseDurationMs(value);
  if (ms === undefined || ms <= 0) throw usageError(`--${flag}: expected a duration like "5m" or "30s", got ${JSON.stringify(value)}`);
  return ms;
}
