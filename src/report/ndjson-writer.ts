/**
 * Appends records to an NDJSON file as they happen, through a bounded
 * in-memory buffer: when the disk falls behind by more than maxBufferBytes,
 * records are dropped and counted rather than queued without limit.
 */
import { mkdirSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { DoppelError } from '../core/errors.js';
import type { DiffRecord, ResultRecord } from './types.js';

export interface NdjsonWriter<T> {
  /** queues one record; false when it was dropped (buffer full or writer failed) */
  write(record: T): boolean;
  readonly written: number;
  readonly dropped: number;
  /** resolves once everything queued is on disk */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface NdjsonWriterOptions {
  maxBufferBytes?: number;
}

export const DIFFS_FILE = 'diffs.ndjson';
export const RESULTS_FILE = 'results.ndjson';

export function createNdjsonWriter<T>(file: string, opts: NdjsonWriterOptions = {}): NdjsonWriter<T> {
  const maxBuffer = opts.maxBufferBytes ?? 8 * 1024 * 1024;
  let pending: string[] = [];
  let pendingBytes = 0;
  let written = 0;
  let dropped = 0;
  let failure: DoppelError | undefined;
  let draining: Promise<void> | undefined;
  let isClosed = false;
  const handle: Promise<FileHandle | undefined> = open(file, 'w', 0o644).catch((cause: unknown) => {
    failure = ioError(file, 'cannot create', cause);
    return undefined;
  });

  const drain = async (): Promise<void> => {
    const fh = await handle;
    while (pending.length > 0 && fh !== undefined && failure === undefined) {
      const chunk = pending.join('');
      const count = pending.length;
      pending = [];
      pendingBytes = 0;
      try {
        await fh.write(chunk);
        written += count;
      } catch (cause) {
        failure = ioError(file, 'cannot write', cause);
        dropped += count;
      }
    }
    if (fh === undefined || failure !== undefined) {
      dropped += pending.length;
      pending = [];
      pendingBytes = 0;
    }
    draining = undefined;
  };

  const flush = async () => {
    while (draining !== undefined) await draining;
    if (pending.length > 0) {
      draining = drain();
      await draining;
    }
  };

  return {
    write(record) {
      if (isClosed || failure !== undefined) {
        dropped++;
        return false;
      }
      const line = `${JSON.stringify(record)}\n`;
      if (pendingBytes + line.length > maxBuffer) {
        dropped++;
        return false;
      }
      pending.push(line);
      pendingBytes += line.length;
      draining ??= drain();
      return true;
    },
    get written() {
      return written;
    },
    get dropped() {
      return dropped;
    },
    flush,
    async close() {
      if (isClosed) return;
      await flush();
      isClosed = true;
      const fh = await handle;
      if (fh !== undefined) await fh.close();
      if (failure !== undefined) throw failure;
    },
  };
}

function ioError(file: string, what: string, cause: unknown): DoppelError {
  return new DoppelError('DOPPEL_REPORT_IO', `${file}: ${what} report file (${(cause as NodeJS.ErrnoException).code ?? String(cause)})`, { cause });
}

function ensureDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (cause) {
    throw ioError(dir, 'cannot create directory for', cause);
  }
}

/** diffs.ndjson of a report directory: every mismatch, streamed as it happens. */
export function createDiffWriter(dir: string, opts?: NdjsonWriterOptions): NdjsonWriter<DiffRecord> {
  ensureDir(dir);
  return createNdjsonWriter<DiffRecord>(join(dir, DIFFS_FILE), opts);
}

/** results.ndjson of a report directory: every judged exchange, for later runs to pair with. */
export function createResultsWriter(dir: string, opts?: NdjsonWriterOptions): NdjsonWriter<ResultRecord> {
  ensureDir(dir);
  return createNdjsonWriter<ResultRecord>(join(dir, RESULTS_FILE), opts);
}
