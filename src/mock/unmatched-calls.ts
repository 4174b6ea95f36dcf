/**
 * Unmatched calls of one mock for GET /api/unmatched: one entry per miss key
 * with its exact count, first and last time, and the first call's request and
 * explanation. At most `keep` keys are held; when a new key comes in beyond
 * that, the key missed least recently gives way and its calls are added to
 * `overflow`, so the listed counts plus `overflow` always equal every miss.
 */

/** One miss key as GET /api/unmatched lists it. */
export interface UnmatchedCall {
  service: string;
  protocol: 'http' | 'pg' | 'grpc';
  /** when it was last seen */
  at: string;
  /** when it was first seen, where calls are counted per key */
  firstAt?: string;
  /** calls with this key, where calls are counted per key (exact) */
  count?: number;
  /** method + url for HTTP, SQL for Postgres */
  request: Record<string, unknown>;
  /** the nearest recorded request and what differed */
  nearest?: Record<string, unknown> | undefined;
}

interface Entry {
  call: UnmatchedCall;
  count: number;
  firstAt: number;
  lastAt: number;
}

export interface UnmatchedCalls {
  /** One miss under `key` at `at` (epoch ms); `make` builds the entry, called for a key not held. */
  record(key: string, at: number, make: () => UnmatchedCall): void;
  /** held keys, least recently missed first */
  list(): UnmatchedCall[];
  /** misses of keys that gave way to newer ones */
  overflow(): number;
}

export function createUnmatchedCalls(keep: number): UnmatchedCalls {
  if (!Number.isInteger(keep) || keep < 1) throw new RangeError(`unmatched calls kept must be a positive integer, got ${keep}`);
  // a Map iterates in insertion order: re-inserting on every miss keeps the least recent first
  const entries = new Map<string, Entry>();
  let overflow = 0;
  return {
    record(key, at, make) {
      const e = entries.get(key);
      if (e !== undefined) {
        e.count++;
        e.lastAt = at;
        entries.delete(key);
        entries.set(key, e);
        return;
      }
      if (entries.size >= keep) {
        const [oldest, gone] = entries.entries().next().value as [string, Entry];
        entries.delete(oldest);
        overflow += gone.count;
      }
      entries.set(key, { call: make(), count: 1, firstAt: at, lastAt: at });
    },
    list() {
      const out: UnmatchedCall[] = [];
      for (const e of entries.values()) {
        out.push({ ...e.call, at: new Date(e.lastAt).toISOString(), firstAt: new Date(e.firstAt).toISOString(), count: e.count });
      }
      return out;
    },
    overflow: () => overflow,
  };
}
