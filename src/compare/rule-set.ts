/**
 * A set of compiled JSON path rules, indexed by the segment each rule's last
 * step requires. Looking up the rules for a node costs one map lookup; only
 * the rules that can end at the node's segment are matched against the path.
 */
import { compilePath, lastSegment, pathMatches, type CompiledPath, type PathSegment } from '../core/json-path.js';

export interface RuleSet<T> {
  readonly size: number;
  /** the payload of the first rule selecting the path, or undefined */
  find(path: readonly PathSegment[]): T | undefined;
}

interface Entry<T> {
  pattern: CompiledPath;
  payload: T;
}

export function createRuleSet<T>(rules: ReadonlyArray<{ path: CompiledPath | string; payload: T }>): RuleSet<T> {
  const byKey = new Map<string, Entry<T>[]>();
  const byIndex = new Map<number, Entry<T>[]>();
  const wild: Entry<T>[] = [];
  let size = 0;
  for (const r of rules) {
    const pattern = typeof r.path === 'string' ? compilePath(r.path) : r.path;
    if (pattern.kind !== 'json') continue;
    size++;
    const entry = { pattern, payload: r.payload };
    const last = lastSegment(pattern);
    if (last === undefined) wild.push(entry);
    else if (typeof last === 'number') push(byIndex, last, entry);
    else push(byKey, last, entry);
  }
  const hasNumericKeys = [...byKey.keys()].some((k) => /^\d+$/.test(k));
  const hasRoot = wild.some((e) => e.pattern.kind === 'json' && e.pattern.steps.length === 0);

  return {
    size,
    find(path) {
      if (size === 0) return undefined;
      if (path.length === 0) {
        if (!hasRoot) return undefined;
        return firstMatch(wild, path);
      }
      const seg = path[path.length - 1] as PathSegment;
      if (typeof seg === 'number' && byIndex.size > 0) {
        const indexed = byIndex.get(seg);
        const hit = indexed === undefined ? undefined : firstMatch(indexed, path);
        if (hit !== undefined) return hit;
      }
      // a key step like .0 also selects index 0; only stringify when such a key exists
      const keyed = typeof seg === 'number' ? (hasNumericKeys ? byKey.get(String(seg)) : undefined) : byKey.get(seg);
      if (keyed !== undefined) {
        const hit = firstMatch(keyed, path);
        if (hit !== undefined) return hit;
      }
      return wild.length === 0 ? undefined : firstMatch(wild, path);
    },
  };
}

function firstMatch<T>(entries: readonly Entry<T>[], path: readonly PathSegment[]): T | undefined {
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as Entry<T>;
    if (pathMatches(e.pattern, path)) return e.payload;
  }
  return undefined;
}

function push<K, T>(map: Map<K, T[]>, key: K, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
