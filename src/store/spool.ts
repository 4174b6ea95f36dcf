/**
 * A bounded local spool of store batches, one file per batch, for the time a
 * remote store cannot take writes (DESIGN.md "Scale-out": lost mid-record, the
 * recorder spools to a bounded local directory and drains when Redis returns).
 *
 * A file is a JSON header line (the batch's writer, sequence number and
 * manifest deltas) followed by the exchange lines. Files sort by name in the
 * order they must be drained: store tag, writer tag, then zero-padded
 * sequence number. Files another writer of the same store left in the
 * directory (a stop while the store was away) are taken over and drained
 * first; their headers keep that writer's identity, so the store still
 * applies each batch once. Files of other stores are left alone.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SpoolHeader {
  writer: string;
  seq: number;
  bytes: number;
  counts: Record<string, number>;
  services: string[];
}

export interface SpooledBatch {
  header: SpoolHeader;
  lines: string[];
}

export interface SpoolOptions {
  /** the spool directory; a private temporary directory, made when first needed, when absent */
  dir?: string | undefined;
  maxBytes: number;
}

const SUFFIX = '.batch';

interface Entry {
  name: string;
  size: number;
}

export class Spool {
  readonly #opts: SpoolOptions;
  readonly #storeTag: string;
  #dir: string | undefined;
  #isTemporary = false;
  #entries: Entry[] = [];
  #bytes = 0;

  private constructor(opts: SpoolOptions, storeTag: string) {
    this.#opts = opts;
    this.#storeTag = storeTag;
    this.#dir = opts.dir;
  }

  /**
   * Opens the spool of one store (`store` names it, e.g. its URL without credentials);
   * batches for that store a configured directory already holds are queued for draining.
   */
  static async open(opts: SpoolOptions, store: string): Promise<Spool> {
    const spool = new Spool(opts, createHash('sha256').update(store).digest('hex').slice(0, 12));
    if (opts.dir === undefined) return spool;
    await mkdir(opts.dir, { recursive: true, mode: 0o700 });
    const names = (await readdir(opts.dir)).filter((n) => n.startsWith(`${spool.#storeTag}-`) && n.endsWith(SUFFIX)).sort();
    for (const name of names) {
      const size = (await stat(join(opts.dir, name)).catch(() => undefined))?.size;
      if (size === undefined) continue;
      spool.#entries.push({ name, size });
      spool.#bytes += size;
    }
    return spool;
  }

  /** where the spool lives (undefined until a temporary one is first needed) */
  get dir(): string | undefined {
    return this.#dir;
  }

  get isEmpty(): boolean {
    return this.#entries.length === 0;
  }

  get batches(): number {
    return this.#entries.length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get maxBytes(): number {
    return this.#opts.maxBytes;
  }

  /** Writes one batch behind the others; false when the spool cannot hold it. */
  async put(batch: SpooledBatch): Promise<boolean> {
    const text = `${JSON.stringify(batch.header)}\n${batch.lines.join('\n')}\n`;
    const size = Buffer.byteLength(text);
    if (this.#bytes + size > this.#opts.maxBytes) return false;
    const dir = await this.#ensureDir();
    const name = this.#fileName(batch.header);
    this.#bytes += size;
    try {
      await writeFile(join(dir, name), text, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      this.#bytes -= size;
      throw err;
    }
    this.#entries.push({ name, size });
    return true;
  }

  /**
   * The forced stop's put: synchronous, and it overwrites a file of the same
   * name, which can only be this very batch half written by `put` a moment ago.
   * Returns the directory, or undefined when the spool cannot hold the batch.
   */
  putSync(batch: SpooledBatch): string | undefined {
    const text = `${JSON.stringify(batch.header)}\n${batch.lines.join('\n')}\n`;
    const size = Buffer.byteLength(text);
    if (this.#bytes + size > this.#opts.maxBytes) return undefined;
    if (this.#dir === undefined) {
      this.#dir = mkdtempSync(join(tmpdir(), 'doppel-spool-'));
    }
    const name = this.#fileName(batch.header);
    writeFileSync(join(this.#dir, name), text, { mode: 0o600 });
    this.#bytes += size;
    this.#entries.push({ name, size });
    return this.#dir;
  }

  #fileName(h: SpoolHeader): string {
    return `${this.#storeTag}-${safeTag(h.writer)}-${String(h.seq).padStart(15, '0')}${SUFFIX}`;
  }

  /** The oldest batch, or undefined when empty or another writer drained that file first. */
  async peek(): Promise<SpooledBatch | undefined> {
    const e = this.#entries[0];
    if (e === undefined || this.#dir === undefined) return undefined;
    let text: string;
    try {
      text = await readFile(join(this.#dir, e.name), 'utf8');
    } catch {
      this.#drop(e);
      return this.peek();
    }
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    let header: SpoolHeader;
    try {
      header = JSON.parse(lines.shift() ?? '') as SpoolHeader;
      if (typeof header.writer !== 'string' || typeof header.seq !== 'number') throw new Error('bad header');
    } catch {
      // A file cut off by a crash while it was written: its batch never counted as spooled.
      await this.shift();
      return this.peek();
    }
    return { header, lines };
  }

  /** Removes the oldest batch (after the store took it). */
  async shift(): Promise<void> {
    const e = this.#entries[0];
    if (e === undefined || this.#dir === undefined) return;
    this.#drop(e);
    await rm(join(this.#dir, e.name), { force: true });
  }

  /** Removes a temporary spool directory when nothing is left in it. */
  async close(): Promise<void> {
    if (this.#isTemporary && this.#dir !== undefined && this.isEmpty) await rmdir(this.#dir).catch(() => undefined);
  }

  #drop(e: Entry): void {
    if (this.#entries[0] === e) this.#entries.shift();
    this.#bytes -= e.size;
  }

  async #ensureDir(): Promise<string> {
    if (this.#dir !== undefined) return this.#dir;
    this.#dir = await mkdtemp(join(tmpdir(), 'doppel-spool-'));
    this.#isTemporary = true;
    return this.#dir;
  }
}

function safeTag(writer: string): string {
  return writer.replace(/[^A-Za-z0-9._-]/g, '_');
}
