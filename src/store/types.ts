import { DoppelError } from '../core/errors.js';
import type { Exchange } from '../core/exchange.js';

/**
 * What capture needs from a store: append whole exchanges, flush, close.
 * `append` resolves when the line is handed to the backend; `flush` when
 * everything appended so far is durable (fsync'd file, or acknowledged by Redis).
 */
export interface ExchangeWriter {
  append(exchange: Exchange): Promise<void>;
  /**
   * Appends several exchanges in order with one promise for them all, settled
   * as `append`'s would be: the record relays' path, which makes no promise
   * per exchange. `lines[i]`, when given, is exchanges[i] already encoded (the
   * text encodeExchange returns for it, no newline) by a producer that builds
   * that text itself. A writer without it is appended to one by one.
   */
  appendBatch?(exchanges: readonly Exchange[], lines?: readonly string[]): Promise<void>;
  flush(): Promise<void>;
  close(): Promise<void>;
  /** bytes written so far in this store location (for quotas) */
  readonly bytesWritten: number;
  /**
   * The forced stop (a second signal): writes what is queued and the manifest
   * synchronously, as far as `deadline` (epoch ms) allows, and closes the writer.
   * No promise settles afterwards; the process exits right after.
   */
  flushSync?(deadline: number): LastFlush;
  /** where a store with a local spool stands (the Redis store); absent for stores without one */
  spoolState?(): SpoolState;
}

/** A spooling store's state, as `/api/record` shows it. */
export interface SpoolState {
  /** the store is unreachable and batches go to the spool */
  spooling: boolean;
  /** batches waiting in the spool for the store to return */
  batches: number;
  bytes: number;
  maxBytes: number;
}

/** What a forced stop wrote and what it could not. */
export interface LastFlush {
  /** exchanges written (or spooled) by the forced stop */
  written: number;
  /** exchanges it had to leave: the deadline passed, the spool was full, or a write failed */
  lost: number;
  /** where they went: the store, or the spool directory that holds them until a recorder drains it */
  where: string;
  /** why some were lost, when some were */
  reason?: string;
}

/** A line or record that could not be decoded, reported and skipped. */
export interface CorruptRecord {
  /** file path (file store) or key (Redis) */
  source: string;
  /** 1-based line number or record index */
  line: number;
  reason: string;
  /** true when it is the cut-off tail of a segment (crash), not damage in the middle */
  isTail: boolean;
}

export interface ReadOptions {
  /** called for every skipped record; the read goes on */
  onCorrupt?: (record: CorruptRecord) => void;
  /**
   * Called before an exchange is yielded with where it lies in the store, for a reader that
   * can read it back by that reference (`readRefs`); exchanges it cannot point at get no call.
   */
  onRef?: (exchange: Exchange, ref: string, bytes: number) => void;
}

/** What mocks and replay need: a stream of exchanges in store order. */
export interface ExchangeReader {
  read(opts?: ReadOptions): AsyncIterable<Exchange>;
  /**
   * The same stream in the batches the store reads it in (a chunk of a segment): a reader of
   * many exchanges takes a step of an async iterator per batch, not per exchange.
   * `readInBatches` falls back to `read` for a reader without it.
   */
  readBatches?(opts?: ReadOptions): AsyncIterable<Exchange[]>;
  /**
   * The exchanges at references `read` reported, in the order asked: a replay worker reads
   * the sessions leased to it itself, so no process has to hold or ship the traffic.
   * Throws when a reference no longer holds an exchange (the store changed under the run).
   */
  readRefs?(refs: readonly string[]): Promise<Exchange[]>;
}

export interface StoreManifest {
  format: 'doppel-traffic';
  version: number;
  created: string;
  updated: string;
  services: string[];
  counts: { exchanges: number; inbound: number; outbound: number; http: number; pg: number; grpc?: number; segments: number };
}

/**
 * Why a failed append is counted as a drop (doppel_record_dropped_total{reason}):
 * a batch the store's spool could not hold is `spool_full`, anything else `store_error`.
 */
export function storeDropReason(err: unknown): 'spool_full' | 'store_error' {
  return err instanceof DoppelError && err.code === 'DOPPEL_OVERLOADED' ? 'spool_full' : 'store_error';
}

/** A reader's exchanges in batches: its own `readBatches`, else `read` one exchange a batch. */
export async function* readInBatches(reader: ExchangeReader, opts?: ReadOptions): AsyncGenerator<Exchange[]> {
  if (reader.readBatches !== undefined) {
    yield* reader.readBatches(opts);
    return;
  }
  for await (const ex of reader.read(opts)) yield [ex];
}
