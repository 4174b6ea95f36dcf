/**
 * The scale-out traffic store: one Redis Stream of exchange JSON lines plus a
 * manifest hash, under a key prefix taken from the URL (docs/store.md). This
 * file reads it; redis-store-writer.ts appends to it; redis-connection.ts
 * parses locations and connects.
 */
import type { Redis, Cluster } from 'ioredis';
import { DoppelError } from '../core/errors.js';
import type { Exchange } from '../core/exchange.js';
import { decodeExchangeLine } from './codec.js';
import type { CorruptRecord, ExchangeReader, ReadOptions } from './types.js';
import { orderByRecordedTime } from './time-order.js';
import { checkManifestVersion, FIELD, openRedis, parseRedisStoreUrl, type RedisStoreLocation } from './redis-connection.js';

export { isRedisStoreUrl, parseRedisStoreUrl, REDIS_MANIFEST_VERSION, type RedisStoreLocation } from './redis-connection.js';
export { createRedisStoreWriter, type RedisStoreWriterOptions, type SpoolEvent } from './redis-store-writer.js';

const PAGE = 500;

/** A store several recorders wrote is read back in recorded-time order within this window (time-order.ts). */
const TIME_ORDER = { windowMs: 60_000, maxBytes: 64 * 1024 * 1024, maxItems: 50_000 };

async function* readStream(loc: RedisStoreLocation, opts: ReadOptions): AsyncGenerator<Exchange> {
  const client = await openRedis(loc);
  try {
    const manifest = await client.hgetall(loc.manifestKey);
    if (Object.keys(manifest).length === 0) throw new DoppelError('DOPPEL_STORE_NOT_FOUND', `${loc.display}: no traffic store at this prefix (${loc.manifestKey} does not exist)`);
    checkManifestVersion(loc, manifest);
    const entries = readEntries(client, loc, opts);
    // One writer appended in its own order; only interleaved writers need putting back in time order.
    if ((await client.hlen(loc.writersKey)) > 1) yield* orderByRecordedTime(entries, TIME_ORDER);
    else for await (const e of entries) yield e.exchange;
  } finally {
    client.disconnect();
  }
}

async function* readEntries(client: Redis | Cluster, loc: RedisStoreLocation, opts: ReadOptions): AsyncGenerator<{ exchange: Exchange; bytes: number }> {
  const report = (r: CorruptRecord) => opts.onCorrupt?.(r);
  let start = '-';
  let index = 0;
  // A bad last entry of a page is a tail only if no page follows: held until the next page says.
  let held: Omit<CorruptRecord, 'isTail'> | undefined;
  for (;;) {
    const page = await client.xrange(loc.streamKey, start, '+', 'COUNT', PAGE);
    if (held !== undefined) {
      report({ ...held, isTail: page.length === 0 });
      held = undefined;
    }
    if (page.length === 0) break;
    for (let i = 0; i < page.length; i++) {
      const [id, fields] = page[i] as [string, string[]];
      index++;
      const at = fields.indexOf(FIELD);
      const line = at >= 0 && at % 2 === 0 ? fields[at + 1] : undefined;
      const res = line === undefined ? ({ ok: false, reason: `no "${FIELD}" field` } as const) : decodeExchangeLine(line, loc.streamKey, index);
      if (res.ok) {
        yield { exchange: res.exchange, bytes: (line as string).length };
        continue;
      }
      const bad = { source: `${loc.streamKey}#${id}`, line: index, reason: res.reason };
      if (i < page.length - 1) report({ ...bad, isTail: false });
      else held = bad;
    }
    if (page.length < PAGE) {
      if (held !== undefined) report({ ...held, isTail: true });
      break;
    }
    // Exclusive start (Redis >= 6.2): the next page begins after the last id read.
    start = `(${(page[page.length - 1] as [string, string[]])[0]}`;
  }
}

/** Streams every exchange of one or more Redis stores, in store order, a page at a time. */
export function createRedisStoreReader(urls: readonly string[]): ExchangeReader {
  return {
    async *read(opts: ReadOptions = {}) {
      for (const url of urls) yield* readStream(parseRedisStoreUrl(url), opts);
    },
  };
}
