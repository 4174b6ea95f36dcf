/**
 * Checks of the `compare` section the schema cannot express: every rule is a
 * path of the one grammar, every tolerance parses. Pure, so config/ runs them
 * at load and the comparator compiles what passed.
 */
import type { CompareConfig } from './schema.js';
import { parseSizeBytes } from './duration.js';
import { compilePath } from '../core/json-path.js';

export interface Tolerance {
  abs: number;
  /** relative tolerance as a fraction: "1%" -> 0.01 */
  rel: number;
}

/** Every problem of a compare section, each naming its key: `compare.ignore[2]: invalid path ...`. */
export function validateCompareConfig(cfg: CompareConfig, prefix = 'compare'): string[] {
  const problems: string[] = [];
  const check = (key: string, source: string, jsonOnly: boolean) => {
    try {
      const p = compilePath(source);
      if (jsonOnly && p.kind !== 'json') problems.push(`${key}: ${JSON.stringify(source)} is a ${p.kind} rule; only ignore accepts header:NAME and pg:$N here, expected a JSON path like $.total`);
    } catch (err) {
      problems.push(`${key}: ${(err as Error).message}`);
    }
  };
  cfg.ignore.forEach((s, i) => check(`${prefix}.ignore[${i}]`, s, false));
  cfg.unordered.forEach((s, i) => check(`${prefix}.unordered[${i}]`, s, true));
  cfg.presence.forEach((s, i) => check(`${prefix}.presence[${i}]`, s, true));
  for (const [path, tol] of Object.entries(cfg.tolerances)) {
    const key = `${prefix}.tolerances[${JSON.stringify(path)}]`;
    check(key, path, true);
    if (parseTolerance(tol) === undefined) problems.push(`${key}: expected an absolute tolerance like 0.01 or a relative one like "1%", got ${JSON.stringify(tol)}`);
  }
  if (parseSizeBytes(cfg.max_body_bytes) === undefined) problems.push(`${prefix}.max_body_bytes: expected a size like "1mb", got ${JSON.stringify(cfg.max_body_bytes)}`);
  return problems;
}

export function parseTolerance(value: number | string): Tolerance | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? { abs: value, rel: 0 } : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(value);
  if (m) return { abs: 0, rel: Number(m[1]) / 100 };
  const n = Number(value);
  return value.trim() !== '' && Number.isFinite(n) && n >= 0 ? { abs: n, rel: 0 } : undefined;
}
