/**
 * The mock miss log, rate-limited so a miss storm cannot turn into a log
 * storm: the first miss of each key is logged at info (at most
 * `linesPerInterval` such lines per interval), every other miss is counted
 * and reported in one summary line per interval that had any, naming a few
 * of the keys and how often each was not logged. Nothing is dropped without
 * being counted.
 */
import { LRUCache } from 'lru-cache';
import type { Logger } from '../core/logger.js';
import { systemClock, type Clock } from '../core/clock.js';

export interface MissLogOptions {
  log: Logger;
  /** how often the summary of suppressed lines is written, ms */
  intervalMs?: number;
  /** first-of-a-key lines written per interval at most */
  linesPerInterval?: number;
  /** keys remembered as already logged; one forgotten logs again when it returns */
  keysRemembered?: number;
  /** keys named in a summary line */
  keysPerSummary?: number;
  clock?: Clock;
}

export interface MissLogStats {
  /** first-of-a-key lines (written when the logger is at info or below) */
  logged: number;
  /** misses counted in a summary instead of a line of their own */
  suppressed: number;
  /** summary lines written */
  summaries: number;
}

export interface MissLog {
  /** One miss under `key`; `fields` builds the line and is called only when one is written. */
  miss(key: string, fields: () => Record<string, unknown>): void;
  /** Writes the summary of what was suppressed so far (the interval timer does this). */
  flush(): void;
  /** Writes the last summary and stops the timer. */
  close(): void;
  stats(): MissLogStats;
}

export const MISS_LOG_DEFAULTS = { intervalMs: 10_000, linesPerInterval: 20, keysRemembered: 10_000, keysPerSummary: 5 } as const;

interface Suppressed {
  count: number;
  fields: Record<string, unknown>;
}

export function createMissLog(opts: MissLogOptions): MissLog {
  const { log } = opts;
  const clock = opts.clock ?? systemClock;
  const intervalMs = opts.intervalMs ?? MISS_LOG_DEFAULTS.intervalMs;
  const linesPerInterval = opts.linesPerInterval ?? MISS_LOG_DEFAULTS.linesPerInterval;
  const keysPerSummary = opts.keysPerSummary ?? MISS_LOG_DEFAULTS.keysPerSummary;
  const seen = new LRUCache<string, true>({ max: Math.max(1, opts.keysRemembered ?? MISS_LOG_DEFAULTS.keysRemembered) });
  const stats: MissLogStats = { logged: 0, suppressed: 0, summaries: 0 };
  let windowStart = clock.monotonic();
  let windowLines = 0;
  let windowSuppressed = 0;
  // the first few suppressed keys of the interval, named in its summary; the rest only counted
  const named = new Map<string, Suppressed>();
  let timer: NodeJS.Timeout | undefined;

  function flush(): void {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (windowSuppressed > 0) {
      stats.summaries++;
      const keys = [...named.values()].map((s) => ({ ...s.fields, count: s.count }));
      const namedCount = keys.reduce((n, k) => n + k.count, 0);
      log.info({ suppressed: windowSuppressed, keys, otherCalls: windowSuppressed - namedCount, intervalSeconds: intervalMs / 1000 }, 'mock misses not logged one by one');
    }
    windowSuppressed = 0;
    named.clear();
    windowLines = 0;
    windowStart = clock.monotonic();
  }

  function suppress(key: string, fields: () => Record<string, unknown>): void {
    stats.suppressed++;
    windowSuppressed++;
    const s = named.get(key);
    if (s !== undefined) s.count++;
    else if (named.size < keysPerSummary && log.isLevelEnabled('info')) named.set(key, { count: 1, fields: fields() });
    if (timer === undefined) {
      // the summary is due even when the storm stops; unref: it never holds the process open
      timer = setTimeout(flush, Math.max(0, windowStart + intervalMs - clock.monotonic()));
      timer.unref();
    }
  }

  return {
    miss(key, fields) {
      if (clock.monotonic() - windowStart >= intervalMs) flush();
      if (windowLines < linesPerInterval && !seen.has(key)) {
        seen.set(key, true);
        windowLines++;
        stats.logged++;
        if (log.isLevelEnabled('info')) log.info(fields(), 'mock miss');
        return;
      }
      suppress(key, fields);
    },
    flush,
    close: flush,
    stats: () => ({ ...stats }),
  };
}
