/**
 * Exchanges fed at run time (the primary's calls in `doppel shadow`) are
 * served within a window: the newest `maxExchanges`, none older than
 * `windowMs`, so memory stays bounded whatever the primary's rate. Also
 * reports traced statements of both sides to the window's listener.
 */
import type { PgExchange } from '../../core/exchange.js';
import type { PgEntry, PgIndex } from './statement-index.js';
import type { PgLiveWindow } from './types.js';

export interface LiveWindow {
  /** serves one more exchange from now on, forgetting what falls out of the window */
  add(ex: PgExchange): void;
  /** reports a candidate statement that carries a trace to the window's listener */
  observeCandidate(sql: string, traceId: string | undefined, entry: PgEntry | undefined): void;
  stop(): void;
}

export function createLiveWindow(index: PgIndex, live: PgLiveWindow | undefined): LiveWindow {
  const now = live?.now ?? Date.now;
  // Fed exchanges in arrival order, from `head` on; the consumed prefix is cut off in batches.
  const fed: Array<{ entry: PgEntry; at: number }> = [];
  let head = 0;

  function evict(): void {
    if (live === undefined) return;
    const cutoff = now() - live.windowMs;
    while (head < fed.length) {
      const f = fed[head] as { entry: PgEntry; at: number };
      if (fed.length - head <= live.maxExchanges && f.at >= cutoff) break;
      head++;
      index.remove(f.entry);
      if (!f.entry.isUsed) live.onUnusedDropped?.();
    }
    if (head > 1024 && head * 2 > fed.length) {
      fed.splice(0, head);
      head = 0;
    }
  }
  // Time alone must also forget: without new traffic nothing else would.
  const timer = live === undefined ? undefined : setInterval(evict, Math.max(100, Math.min(1000, live.windowMs / 4)));
  timer?.unref();

  return {
    add(ex) {
      const entry = index.add(ex);
      if (entry !== undefined && live !== undefined) {
        fed.push({ entry, at: now() });
        evict();
        if (entry.traceId !== undefined && entry.shape !== undefined) {
          live.onTracedStatement?.({ side: 'primary', traceId: entry.traceId, command: entry.shape.commands[0] ?? '', shape: entry.shape.shape, isMatched: true });
        }
      }
    },
    observeCandidate(sql, traceId, entry) {
      const listener = live?.onTracedStatement;
      if (traceId === undefined || listener === undefined) return;
      const shape = entry?.shape ?? index.analyze(sql);
      listener({ side: 'candidate', traceId, command: shape.commands[0] ?? '', shape: shape.shape, isMatched: entry !== undefined });
    },
    stop() {
      clearInterval(timer);
    },
  };
}
