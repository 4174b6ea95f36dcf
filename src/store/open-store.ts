/**
 * Picks the store backend from a location: a `redis://` or `rediss://` URL is
 * a Redis store, anything else a traffic directory (DESIGN.md: a URL is
 * accepted wherever a directory is).
 */
import { createFileStoreReader, createFileStoreWriter } from './file-store.js';
import { createRedisStoreReader, createRedisStoreWriter, isRedisStoreUrl, type SpoolEvent } from './redis-store.js';
import type { SpoolOptions } from './spool.js';
import { readInBatches, type ExchangeReader, type ExchangeWriter, type ReadOptions } from './types.js';

export { isRedisStoreUrl };

export interface OpenStoreWriterOptions {
  /** file store only: gzip segments */
  gzip?: boolean;
  /** file store only: rotate segments at this size */
  segmentBytes?: number;
  /** Redis store only: names this recorder among the writers of one store */
  recorderId?: string;
  /** Redis store only: where batches go while Redis cannot take them */
  spool?: SpoolOptions;
  /** Redis store only: told when the writer starts spooling, drains, or drops */
  onSpool?: (event: SpoolEvent) => void;
}

export function openStoreWriter(location: string, opts: OpenStoreWriterOptions = {}): Promise<ExchangeWriter> {
  if (isRedisStoreUrl(location)) {
    return createRedisStoreWriter({
      url: location,
      ...(opts.recorderId === undefined ? {} : { recorderId: opts.recorderId }),
      ...(opts.spool === undefined ? {} : { spool: opts.spool }),
      ...(opts.onSpool === undefined ? {} : { onSpool: opts.onSpool }),
    });
  }
  return createFileStoreWriter({ dir: location, ...(opts.gzip === undefined ? {} : { gzip: opts.gzip }), ...(opts.segmentBytes === undefined ? {} : { segmentBytes: opts.segmentBytes }) });
}

/** Streams the locations one after another, each through its own backend. */
export function openStoreReader(locations: readonly string[]): ExchangeReader {
  if (!locations.some(isRedisStoreUrl)) return createFileStoreReader(locations);
  const readerOf = (loc: string): ExchangeReader => (isRedisStoreUrl(loc) ? createRedisStoreReader([loc]) : createFileStoreReader([loc]));
  return {
    async *read(opts: ReadOptions = {}) {
      for (const loc of locations) yield* readerOf(loc).read(opts);
    },
    async *readBatches(opts: ReadOptions = {}) {
      for (const loc of locations) yield* readInBatches(readerOf(loc), opts);
    },
  };
}
