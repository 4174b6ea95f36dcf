/**
 * The append path every store backend shares: records are accepted at once,
 * batched for a short interval or up to a size, and handed to the backend one
 * batch at a time, in order. `append` resolves when its batch is written;
 * after a failed write every later append rejects with that failure.
 * `takeUnsent` hands every batch not yet given to the backend to a caller that
 * writes them synchronously (a forced stop), and the chain then skips them.
 */
import { DoppelError } from '../core/errors.js';

export interface AppendBatcherOptions<T> {
  /** names the store in messages (a directory, or a redacted URL) */
  name: string;
  flushIntervalMs: number;
  batchBytes: number;
  batchItems?: number;
  /** bytes the store already held when opened (quotas count them) */
  existingBytes: number;
  send(batch: T[], bytes: number): Promise<void>;
  /** false for a send error that loses only its own batch (default: every error stops the store) */
  isFatal?: (err: unknown) => boolean;
}

interface Unsent<T> {
  items: T[];
  isTaken: boolean;
}

export class AppendBatcher<T> {
  readonly #opts: AppendBatcherOptions<T>;
  #pending: T[] = [];
  #pendingBytes = 0;
  #waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  #timer: NodeJS.Timeout | undefined;
  #chain: Promise<void> = Promise.resolve();
  #bytesWritten: number;
  #writingBytes = 0;
  #isClosed = false;
  #failure: DoppelError | undefined;
  /** batches handed to the chain whose send has not started, oldest first */
  #unsent: Array<Unsent<T>> = [];

  constructor(opts: AppendBatcherOptions<T>) {
    this.#opts = opts;
    this.#bytesWritten = opts.existingBytes;
  }

  /** Appended bytes count from the moment they are accepted, while their batch is written too. */
  get bytesWritten(): number {
    return this.#bytesWritten + this.#writingBytes + this.#pendingBytes;
  }

  get failure(): DoppelError | undefined {
    return this.#failure;
  }

  /** Why an append would be refused now (closed, or an earlier write failed), else undefined. */
  refusal(): DoppelError | undefined {
    if (this.#isClosed) return new DoppelError('DOPPEL_STORE_IO', `${this.#opts.name}: store is closed`);
    return this.#failure;
  }

  add(item: T, bytes: number): Promise<void> {
    const refused = this.refusal();
    if (refused !== undefined) return Promise.reject(refused);
    this.#pending.push(item);
    return this.#accepted(bytes);
  }

  /** Several items with one promise for them all, settled when the batch holding the last of them is written. */
  addMany(items: readonly T[], bytes: number): Promise<void> {
    const refused = this.refusal();
    if (refused !== undefined) return Promise.reject(refused);
    for (const item of items) this.#pending.push(item);
    return this.#accepted(bytes);
  }

  #accepted(bytes: number): Promise<void> {
    this.#pendingBytes += bytes;
    const p = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    const isFull = this.#pendingBytes >= this.#opts.batchBytes || (this.#opts.batchItems !== undefined && this.#pending.length >= this.#opts.batchItems);
    if (isFull) void this.writePending();
    else this.#timer ??= setTimeout(() => void this.writePending(), this.#opts.flushIntervalMs);
    return p;
  }

  /** Hands what is pending to the backend; resolves when every batch so far is written. */
  writePending(): Promise<void> {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const batch = this.#pending;
    const bytes = this.#pendingBytes;
    const waiters = this.#waiters;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#waiters = [];
    this.#writingBytes += bytes;
    const unsent: Unsent<T> = { items: batch, isTaken: false };
    if (batch.length > 0) this.#unsent.push(unsent);
    this.#chain = this.#chain
      .then(async () => {
        if (unsent.isTaken) return;
        if (this.#unsent[0] === unsent) this.#unsent.shift();
        if (batch.length > 0) await this.#opts.send(batch, bytes);
        this.#writingBytes -= bytes;
        this.#bytesWritten += bytes;
        for (const w of waiters) w.resolve();
      })
      .catch((err: unknown) => {
        this.#writingBytes -= bytes;
        if (this.#opts.isFatal?.(err) === false) {
          for (const w of waiters) w.reject(err);
          return;
        }
        this.#failure ??= new DoppelError('DOPPEL_STORE_IO', `${this.#opts.name}: write failed: ${(err as Error).message}`, { cause: err });
        for (const w of waiters) w.reject(this.#failure);
      });
    return this.#chain;
  }

  /** Runs `fn` after every batch handed over so far (syncs, manifests), in the same order. */
  after(fn: () => Promise<void>): Promise<void> {
    this.#chain = this.#chain.then(fn);
    return this.#chain;
  }

  /**
   * Refuses further appends and returns, oldest first, every batch whose send
   * has not started, pending items last: the caller writes them now, by other
   * means, and the chain will not send them. A send already started is the
   * backend's to finish or redo. Their appends never settle: the process is ending.
   */
  takeUnsent(): T[][] {
    this.#isClosed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const out: T[][] = [];
    for (const u of this.#unsent) {
      u.isTaken = true;
      out.push(u.items);
    }
    this.#unsent = [];
    if (this.#pending.length > 0) out.push(this.#pending);
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#waiters = [];
    return out;
  }

  /** Refuses further appends and writes what is pending. */
  close(): Promise<void> {
    this.#isClosed = true;
    return this.writePending();
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }
}
