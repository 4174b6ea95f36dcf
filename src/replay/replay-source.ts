/**
 * Where replay's pairs come from: the recorded inbound HTTP exchanges of the
 * traffic directories (or a given reader), filtered by include/exclude and
 * cut at replay.limit. The first exchange is read before the run starts, so
 * traffic with nothing to replay is an input error (exit 2), not an empty run.
 */
import { stat } from 'node:fs/promises';
import { DoppelError } from '../core/errors.js';
import { isHttpExchange, type HttpExchange } from '../core/exchange.js';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { listStoreSegments, readStoreManifest } from '../store/file-store.js';
import { isRedisStoreUrl } from '../store/open-store.js';
import { readInBatches, type ExchangeReader, type ReadOptions } from '../store/types.js';
import type { RequestFilter } from './request-filter.js';

/** What the source left out, for the run's last log line. */
export interface SourceSkips {
  corrupt: number;
  /** outbound or non-HTTP exchanges */
  skippedOther: number;
  /** left out by include/exclude */
  filtered: number;
}

/** One stream, read either way: one by one, or in the batches the store read them in. */
export interface ReplaySource {
  readonly exchanges: AsyncIterable<HttpExchange>;
  readonly batches: AsyncIterable<HttpExchange[]>;
  readonly skips: Readonly<SourceSkips>;
}

export async function checkTrafficDirs(dirs: readonly string[]): Promise<void> {
  for (const dir of dirs) {
    // A Redis store is checked when it is read (a missing one is DOPPEL_STORE_NOT_FOUND there).
    if (isRedisStoreUrl(dir)) continue;
    let isDir: boolean;
    try {
      isDir = (await stat(dir)).isDirectory();
    } catch {
      throw new DoppelError('DOPPEL_STORE_NOT_FOUND', `${dir}: traffic directory does not exist`);
    }
    if (!isDir) throw new DoppelError('DOPPEL_STORE_NOT_FOUND', `${dir}: not a traffic directory`);
    if ((await listStoreSegments(dir)).length === 0) {
      throw new DoppelError('DOPPEL_INPUT_INVALID', `${dir}: traffic directory holds no exchanges (no exchanges-*.ndjson segment)`);
    }
  }
}

/** Inbound exchanges the manifests announce (an upper bound for ETA: filters may skip some). */
export async function countInbound(dirs: readonly string[]): Promise<number | undefined> {
  let n = 0;
  for (const dir of dirs) {
    if (isRedisStoreUrl(dir)) return undefined;
    try {
      const m = await readStoreManifest(dir);
      if (m === undefined) return undefined;
      n += m.counts.inbound;
    } catch {
      return undefined;
    }
  }
  return n;
}

export function pathOf(url: string): string {
  if (/^https?:\/\//i.test(url)) {
    try {
      const u = new URL(url);
      return u.pathname + u.search;
    } catch {
      return url;
    }
  }
  return url;
}

export interface ReplaySourceOptions {
  reader: ExchangeReader;
  filter: RequestFilter;
  limit: number | undefined;
  /** the traffic directories, for the message when nothing is replayable */
  dirs: readonly string[];
  metrics: Metrics;
  log: Logger;
  /** told where each exchange lies in the store, when the store can say (ReadOptions.onRef) */
  onRef?: ReadOptions['onRef'];
}

/** Opens the stream and peeks its first exchange; throws DOPPEL_INPUT_INVALID when there is none. */
export async function openReplaySource(opts: ReplaySourceOptions): Promise<ReplaySource> {
  const skips: SourceSkips = { corrupt: 0, skippedOther: 0, filtered: 0 };
  // Filtered a batch at a time: a step of an async generator per exchange cost about 1 KB of
  // garbage and a few microtasks for each request replayed.
  async function* replayable(): AsyncGenerator<HttpExchange[]> {
    let accepted = 0;
    const stream = readInBatches(opts.reader, {
      onCorrupt: (r) => {
        skips.corrupt++;
        opts.metrics.storeCorruptLines.inc();
        opts.log.warn({ source: r.source, line: r.line, reason: r.reason }, 'skipped corrupt traffic line');
      },
      ...(opts.onRef === undefined ? {} : { onRef: opts.onRef }),
    });
    for await (const batch of stream) {
      const out: HttpExchange[] = [];
      for (const ex of batch) {
        if (!isHttpExchange(ex) || ex.direction !== 'inbound') {
          skips.skippedOther++;
          continue;
        }
        if (!opts.filter.accepts(ex.http.request.method, pathOf(ex.http.request.url))) {
          skips.filtered++;
          continue;
        }
        out.push(ex);
        accepted++;
        if (opts.limit !== undefined && accepted >= opts.limit) {
          yield out;
          return;
        }
      }
      if (out.length > 0) yield out;
    }
  }
  const it = replayable()[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done === true) {
    const where = opts.dirs.length > 0 ? opts.dirs.join(', ') : 'the traffic source';
    const why = skips.filtered > 0 ? ` (${skips.filtered} filtered out by include/exclude)` : '';
    throw new DoppelError('DOPPEL_INPUT_INVALID', `${where}: no inbound HTTP exchanges to replay${why}`);
  }
  // The peeked batch first, then the stream itself: no generator layer in between.
  let peeked: IteratorResult<HttpExchange[]> | undefined = first;
  const batches: AsyncIterable<HttpExchange[]> = {
    [Symbol.asyncIterator]: () => ({
      next: () => {
        if (peeked === undefined) return it.next();
        const r = peeked;
        peeked = undefined;
        return Promise.resolve(r);
      },
      return: (value?: unknown) => it.return?.(value) ?? Promise.resolve({ done: true as const, value: undefined }),
    }),
  };
  const exchanges: AsyncIterable<HttpExchange> = {
    async *[Symbol.asyncIterator]() {
      for await (const batch of batches) yield* batch;
    },
  };
  return { exchanges, batches, skips };
}
