/**
 * The embedded traffic store: a directory of NDJSON segments (optionally
 * gzip) plus manifest.json. NDJSON stays the source of truth so grep, jq and
 * zcat work on it. Lines are written whole; gzip segments are written as
 * complete gzip members, one per batch, so a crash loses at most the block
 * being written, and the reader accepts a cut-off tail.
 */
import { closeSync, createReadStream, fsyncSync, openSync, renameSync, writeFileSync, writeSync, constants as fsConstants } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, stat, writeFile, chmod, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { createGunzip, gzip, gzipSync } from 'node:zlib';
import { promisify } from 'node:util';

const gzipAsync = promisify(gzip);
import { DoppelError } from '../core/errors.js';
import type { Exchange } from '../core/exchange.js';
import { decodeExchangeLine, encodeExchange } from './codec.js';
import type { CorruptRecord, ExchangeReader, ExchangeWriter, LastFlush, ReadOptions, StoreManifest } from './types.js';
import { AppendBatcher } from './append-batcher.js';
import { fileRef, readFileRefs } from './file-store-refs.js';

export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_VERSION = 1;
const SEGMENT_RE = /^exchanges-(\d{6,})\.ndjson(\.gz)?$/;

export interface FileStoreWriterOptions {
  dir: string;
  gzip?: boolean;
  /** rotate when a segment holds this many uncompressed bytes */
  segmentBytes?: number;
  /** batch writes for this long before handing them to the OS */
  flushIntervalMs?: number;
  /** a batch this large is written at once */
  batchBytes?: number;
}

function segmentName(n: number, gzip: boolean): string {
  return `exchanges-${String(n).padStart(6, '0')}.ndjson${gzip ? '.gz' : ''}`;
}

function emptyManifest(now: string): StoreManifest {
  return {
    format: 'doppel-traffic',
    version: MANIFEST_VERSION,
    created: now,
    updated: now,
    services: [],
    counts: { exchanges: 0, inbound: 0, outbound: 0, http: 0, pg: 0, segments: 0 },
  };
}

async function readManifest(dir: string): Promise<StoreManifest | undefined> {
  const file = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new DoppelError('DOPPEL_STORE_IO', `${file}: cannot read manifest`, { cause: err });
  }
  let m: StoreManifest;
  try {
    m = JSON.parse(text) as StoreManifest;
  } catch (cause) {
    throw new DoppelError('DOPPEL_INPUT_INVALID', `${file}: manifest is not valid JSON`, { cause });
  }
  if (typeof m.version !== 'number' || Math.trunc(m.version) !== MANIFEST_VERSION) {
    throw new DoppelError(
      'DOPPEL_STORE_VERSION',
      `${file}: traffic format version ${String(m.version)} is not supported (this doppel reads version ${MANIFEST_VERSION})`,
    );
  }
  return m;
}

async function listSegments(dir: string): Promise<Array<{ n: number; name: string; gzip: boolean }>> {
  const names = await readdir(dir);
  const out: Array<{ n: number; name: string; gzip: boolean }> = [];
  for (const name of names) {
    const m = SEGMENT_RE.exec(name);
    if (m) out.push({ n: Number(m[1]), name, gzip: m[2] !== undefined });
  }
  return out.sort((a, b) => a.n - b.n);
}

/** One encoded exchange waiting to be written, with what the manifest counts of it. */
interface Line {
  /** the exchange's JSON, without the newline */
  text: string;
  /** its UTF-8 bytes with the newline */
  bytes: number;
  direction: Exchange['direction'];
  protocol: Exchange['protocol'];
  service: string;
}

/** The batch the async path is writing: lines up to `next` are on disk; `write` was issued and may or may not be. */
interface Writing {
  lines: Line[];
  next: number;
  write: { buf: Buffer; fd: number; pos: number; upTo: number; chunkBytes: number } | undefined;
}

class FileStoreWriter implements ExchangeWriter {
  readonly #dir: string;
  readonly #gzip: boolean;
  readonly #segmentBytes: number;
  #manifest: StoreManifest;
  #services: Set<string>;
  #segmentNo: number;
  /** uncompressed bytes in the current segment (what rotation counts) */
  #segmentSize = 0;
  /** bytes on disk in the current segment: every write is positional, so a forced stop can redo one in flight */
  #pos = 0;
  #fh: FileHandle | undefined;
  #writing: Writing | undefined;
  /** set by a forced stop: every async step still under way ends without writing */
  #isTakenOver = false;
  readonly #batcher: AppendBatcher<Line>;

  constructor(opts: Required<FileStoreWriterOptions>, manifest: StoreManifest, nextSegment: number, existingBytes: number) {
    this.#dir = opts.dir;
    this.#gzip = opts.gzip;
    this.#segmentBytes = opts.segmentBytes;
    this.#manifest = manifest;
    this.#services = new Set(manifest.services);
    this.#segmentNo = nextSegment;
    this.#batcher = new AppendBatcher<Line>({
      name: opts.dir,
      flushIntervalMs: opts.flushIntervalMs,
      batchBytes: opts.batchBytes,
      existingBytes,
      send: (lines) => this.#writeLines(lines),
    });
  }

  get bytesWritten(): number {
    return this.#batcher.bytesWritten;
  }

  append(exchange: Exchange): Promise<void> {
    const refused = this.#batcher.refusal();
    if (refused !== undefined) return Promise.reject(refused);
    // No newline appended here: `text + '\n'` is a rope that byteLength and every later copy would flatten first.
    const text = encodeExchange(exchange);
    const bytes = Buffer.byteLength(text) + 1;
    return this.#batcher.add({ text, bytes, direction: exchange.direction, protocol: exchange.protocol, service: exchange.service }, bytes);
  }

  appendBatch(exchanges: readonly Exchange[], lines?: readonly string[]): Promise<void> {
    const refused = this.#batcher.refusal();
    if (refused !== undefined) return Promise.reject(refused);
    const items = new Array<Line>(exchanges.length);
    let total = 0;
    for (let i = 0; i < exchanges.length; i++) {
      const ex = exchanges[i] as Exchange;
      const text = lines?.[i] ?? encodeExchange(ex);
      const bytes = Buffer.byteLength(text) + 1;
      items[i] = { text, bytes, direction: ex.direction, protocol: ex.protocol, service: ex.service };
      total += bytes;
    }
    return this.#batcher.addMany(items, total);
  }

  /** Counted once written, so the manifest never claims a line a crash or a forced stop kept off the disk. */
  #count(lines: readonly Line[], from: number, to: number): void {
    const c = this.#manifest.counts;
    for (let i = from; i < to; i++) {
      const ex = lines[i] as Line;
      c.exchanges++;
      if (ex.direction === 'inbound') c.inbound++;
      else c.outbound++;
      // grpc is optional in the manifest so stores written before it read the same.
      if (ex.protocol === 'grpc') c.grpc = (c.grpc ?? 0) + 1;
      else c[ex.protocol]++;
      if (!this.#services.has(ex.service)) {
        this.#services.add(ex.service);
        this.#manifest.services = [...this.#services].sort();
      }
    }
  }

  /**
   * Lines from `from` that fit the current segment (at least one), as one
   * buffer. Each line is copied into it on its own: joining the lines into one
   * string first and converting that cost about 2 us per line in the record
   * relays' profiles (the joined rope is flattened, then encoded), 20 times
   * what these copies cost.
   */
  #chunk(lines: readonly Line[], from: number): { buf: Buffer; upTo: number; chunkBytes: number } {
    let chunkBytes = 0;
    let upTo = from;
    while (upTo < lines.length) {
      const line = lines[upTo] as Line;
      if (chunkBytes > 0 && this.#segmentSize + chunkBytes + line.bytes > this.#segmentBytes) break;
      chunkBytes += line.bytes;
      upTo++;
    }
    const buf = Buffer.allocUnsafe(chunkBytes);
    let pos = 0;
    for (let i = from; i < upTo; i++) {
      pos += buf.write((lines[i] as Line).text, pos, 'utf8');
      buf[pos++] = 0x0a;
    }
    return { buf, upTo, chunkBytes };
  }

  async #openSegment(): Promise<void> {
    const file = join(this.#dir, segmentName(this.#segmentNo, this.#gzip));
    // wx: never append to a segment a crashed writer may have left torn.
    const fh = await open(file, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
    if (this.#isTakenOver) {
      await fh.close();
      return;
    }
    this.#fh = fh;
    this.#segmentSize = 0;
    this.#pos = 0;
    this.#manifest.counts.segments++;
  }

  async #writeLines(lines: Line[]): Promise<void> {
    const w: Writing = { lines, next: 0, write: undefined };
    this.#writing = w;
    while (w.next < lines.length) {
      if (!this.#fh) await this.#openSegment();
      if (this.#isTakenOver) return;
      const fh = this.#fh as FileHandle;
      // Fill the current segment up to its size, always with whole lines.
      const chunk = this.#chunk(lines, w.next);
      const { upTo, chunkBytes } = chunk;
      // Each batch is one complete gzip member: concatenated members are a valid
      // gzip file (RFC 1952 §2.2), and a crash can only cut the last member.
      const buf = this.#gzip ? await gzipAsync(chunk.buf) : chunk.buf;
      if (this.#isTakenOver) return;
      w.write = { buf, fd: fh.fd, pos: this.#pos, upTo, chunkBytes };
      await fh.write(buf, 0, buf.length, this.#pos);
      if (this.#isTakenOver) return;
      w.write = undefined;
      this.#pos += buf.length;
      this.#segmentSize += chunkBytes;
      this.#count(lines, w.next, upTo);
      w.next = upTo;
      if (this.#segmentSize >= this.#segmentBytes) await this.#rotate();
    }
    this.#writing = undefined;
  }

  async #rotate(): Promise<void> {
    const fh = this.#fh;
    this.#fh = undefined;
    this.#segmentNo++;
    if (fh) {
      await fh.sync();
      await fh.close();
    }
    await this.#writeManifest();
  }

  async #writeManifest(): Promise<void> {
    if (this.#isTakenOver) return;
    this.#manifest.updated = new Date().toISOString();
    const file = join(this.#dir, MANIFEST_FILE);
    const tmp = `${file}.tmp`;
    await writeFile(tmp, JSON.stringify(this.#manifest, null, 2) + '\n', { mode: 0o600 });
    await rename(tmp, file);
  }

  async flush(): Promise<void> {
    await this.#batcher.writePending();
    if (this.#batcher.failure !== undefined) throw this.#batcher.failure;
    await this.#batcher.after(async () => {
      if (this.#fh && !this.#isTakenOver) await this.#fh.sync();
      await this.#writeManifest();
    });
  }

  async close(): Promise<void> {
    if (this.#batcher.isClosed) return;
    await this.#batcher.close();
    await this.#batcher.after(async () => {
      const fh = this.#fh;
      this.#fh = undefined;
      if (fh && !this.#isTakenOver) {
        await fh.sync();
        await fh.close();
      }
      await this.#writeManifest();
    });
    if (this.#batcher.failure !== undefined) throw this.#batcher.failure;
  }

  /**
   * A forced stop: the async path stops where it stands and everything it had
   * not written goes out with synchronous positional writes. A write the async
   * path issued but did not see finish is written again at the same offset:
   * the same bytes in the same place, whether or not it had landed.
   */
  flushSync(deadline: number): LastFlush {
    this.#isTakenOver = true;
    const w = this.#writing;
    this.#writing = undefined;
    const batches = this.#batcher.takeUnsent();
    // The FileHandle keeps its descriptor (closing it here would leave the handle to close a
    // number the OS may have given to another file); only descriptors opened here are closed here.
    const borrowed = this.#fh;
    let fd = borrowed?.fd;
    let isOwnFd = false;
    this.#fh = undefined;
    const total = (w === undefined ? 0 : w.lines.length - w.next) + batches.reduce((n, b) => n + b.length, 0);
    let written = 0;
    let lost = 0;
    let reason: string | undefined;
    try {
      if (w?.write !== undefined) {
        const { buf, pos, upTo, chunkBytes } = w.write;
        writeAllSync(w.write.fd, buf, pos);
        this.#pos = pos + buf.length;
        this.#segmentSize += chunkBytes;
        this.#count(w.lines, w.next, upTo);
        written += upTo - w.next;
        w.next = upTo;
      }
      if (w !== undefined && w.next < w.lines.length) batches.unshift(w.lines.slice(w.next));
      for (const lines of batches) {
        let i = 0;
        while (i < lines.length) {
          if (Date.now() > deadline) throw new Error('out of time');
          if (fd === undefined) {
            fd = this.#openSegmentSync();
            isOwnFd = true;
          }
          const chunk = this.#chunk(lines, i);
          const { upTo, chunkBytes } = chunk;
          const buf = this.#gzip ? gzipSync(chunk.buf) : chunk.buf;
          writeAllSync(fd, buf, this.#pos);
          this.#pos += buf.length;
          this.#segmentSize += chunkBytes;
          this.#count(lines, i, upTo);
          written += upTo - i;
          i = upTo;
          if (this.#segmentSize >= this.#segmentBytes) {
            fsyncSync(fd);
            if (isOwnFd) closeSync(fd);
            fd = undefined;
            this.#segmentNo++;
          }
        }
      }
    } catch (err) {
      reason = (err as Error).message;
      lost = total - written;
    }
    if (fd !== undefined) {
      try {
        fsyncSync(fd);
        if (isOwnFd) closeSync(fd);
      } catch (err) {
        reason ??= (err as Error).message;
      }
    }
    try {
      this.#manifest.updated = new Date().toISOString();
      const file = join(this.#dir, MANIFEST_FILE);
      // Its own temporary name: a manifest write of the async path may still be under way.
      const tmp = `${file}.last.tmp`;
      writeFileSync(tmp, JSON.stringify(this.#manifest, null, 2) + '\n', { mode: 0o600 });
      renameSync(tmp, file);
    } catch (err) {
      reason ??= `manifest: ${(err as Error).message}`;
    }
    // Closed after everything above is on disk; a process that exits now never gets here, and need not.
    void borrowed?.close().catch(() => undefined);
    return { written, lost, where: this.#dir, ...(reason === undefined ? {} : { reason }) };
  }

  /** The next free segment: an async open racing the forced stop may have taken a number (and stays empty). */
  #openSegmentSync(): number {
    for (;;) {
      const file = join(this.#dir, segmentName(this.#segmentNo, this.#gzip));
      try {
        const fd = openSync(file, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
        this.#segmentSize = 0;
        this.#pos = 0;
        this.#manifest.counts.segments++;
        return fd;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        this.#segmentNo++;
      }
    }
  }
}

function writeAllSync(fd: number, buf: Buffer, pos: number): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off, pos + off);
}

/** Opens (creating owner-only when missing) a traffic directory for appending. */
export async function createFileStoreWriter(options: FileStoreWriterOptions): Promise<ExchangeWriter> {
  const opts: Required<FileStoreWriterOptions> = {
    gzip: false,
    segmentBytes: 64 * 1024 * 1024,
    flushIntervalMs: 50,
    batchBytes: 256 * 1024,
    ...options,
  };
  await mkdir(opts.dir, { recursive: true, mode: 0o700 });
  await chmod(opts.dir, 0o700);
  const manifest = (await readManifest(opts.dir)) ?? emptyManifest(new Date().toISOString());
  const segments = await listSegments(opts.dir);
  let existing = 0;
  for (const s of segments) existing += (await stat(join(opts.dir, s.name))).size;
  const next = segments.length > 0 ? (segments[segments.length - 1]?.n ?? 0) + 1 : 1;
  return new FileStoreWriter(opts, manifest, next, existing);
}

/**
 * Splits decoded text into lines without joining the whole file in memory. A
 * line longer than a read (an exchange with a result of many MB) is kept as
 * its pieces and joined once at its end: prepending what was left to every
 * read and searching the whole string again was quadratic, 5.9 s for one 33 MB
 * line. Synchronous within a read, so a line costs no step of an async
 * iterator of its own: the reading generator yields only exchanges.
 */
class LineSplitter {
  #pieces: string[] = [];

  /** The complete lines of `text`, in order, each handed to `line`. */
  push(text: string, line: (l: string) => void): void {
    let start = 0;
    let nl = text.indexOf('\n');
    while (nl !== -1) {
      const tail = text.slice(start, nl);
      if (this.#pieces.length === 0) line(tail);
      else {
        this.#pieces.push(tail);
        const joined = this.#pieces.join('');
        this.#pieces = [];
        line(joined);
      }
      start = nl + 1;
      nl = text.indexOf('\n', start);
    }
    if (start < text.length) this.#pieces.push(text.slice(start));
  }

  /** what is left after the last newline: a cut-off last line */
  rest(): string | undefined {
    return this.#pieces.length > 0 ? this.#pieces.join('') : undefined;
  }
}

/** One segment's exchanges, a batch per chunk read (decoded lines of ~64 KB of file). */
async function* readSegment(file: string, gzip: boolean, opts: ReadOptions, refBase?: string): AsyncGenerator<Exchange[]> {
  // A crash right after a segment was created leaves it empty: nothing was lost.
  if (gzip && (await stat(file)).size === 0) return;
  const raw = createReadStream(file);
  // Gunzip finishes with Z_FINISH, so a last member cut off anywhere, even in
  // its CRC and size trailer (RFC 1952 §2.2), fails after its readable lines
  // were delivered, and the catch below counts the cut-off tail.
  const stream = gzip ? raw.pipe(createGunzip()) : raw;
  stream.setEncoding('utf8');
  let lineNo = 0;
  const report = (r: CorruptRecord) => opts.onCorrupt?.(r);
  // Byte positions only in a plain segment; they stop at a replacement character, where the
  // decoded text may no longer count the bytes on disk (invalid UTF-8 read as U+FFFD).
  const onRef = gzip || refBase === undefined ? undefined : opts.onRef;
  let at = onRef === undefined ? -1 : 0;
  let ready: Exchange[] = [];
  const take = (line: string, complete: boolean): void => {
    lineNo++;
    const start = at;
    if (at >= 0) at = line.includes('\uFFFD') ? -1 : at + Buffer.byteLength(line) + 1;
    if (line.trim() === '') return;
    const res = decodeExchangeLine(line, file, lineNo);
    if (res.ok) {
      if (onRef !== undefined && at >= 0 && complete) onRef(res.exchange, fileRef(refBase as string, start, at - start - 1), at - start);
      ready.push(res.exchange);
    } else report({ source: file, line: lineNo, reason: complete ? res.reason : `cut-off last line (${res.reason})`, isTail: !complete });
  };
  const complete = (line: string) => take(line, true);
  const lines = new LineSplitter();
  try {
    for await (const chunk of stream) {
      let failure: Error | undefined;
      try {
        lines.push(typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8'), complete);
      } catch (err) {
        // a line of an unknown format version: what came before it is still delivered first
        failure = err instanceof Error ? err : new Error(String(err));
      }
      const out = ready;
      ready = [];
      if (out.length > 0) yield out;
      if (failure !== undefined) throw failure;
    }
    const rest = lines.rest();
    if (rest !== undefined) take(rest, false);
    if (ready.length > 0) yield ready;
  } catch (err) {
    if (err instanceof DoppelError) throw err;
    // A gzip stream damaged beyond its last complete block: keep what was read.
    report({ source: file, line: lineNo + 1, reason: `unreadable from here: ${(err as Error).message}`, isTail: true });
  } finally {
    raw.destroy();
  }
}

/** Streams every exchange of one or more traffic directories, in order. */
export function createFileStoreReader(dirs: readonly string[]): ExchangeReader {
  const readBatches = async function* (opts: ReadOptions = {}): AsyncGenerator<Exchange[]> {
    for (const [i, dir] of dirs.entries()) {
      let st;
      try {
        st = await stat(dir);
      } catch {
        throw new DoppelError('DOPPEL_STORE_NOT_FOUND', `${dir}: traffic directory does not exist`);
      }
      if (!st.isDirectory()) throw new DoppelError('DOPPEL_STORE_NOT_FOUND', `${dir}: not a traffic directory`);
      await readManifest(dir);
      for (const seg of await listSegments(dir)) yield* readSegment(join(dir, seg.name), seg.gzip, opts, opts.onRef === undefined ? undefined : `${i}/${seg.name}`);
    }
  };
  return {
    readRefs: (refs) => readFileRefs(dirs, refs),
    readBatches,
    async *read(opts: ReadOptions = {}) {
      for await (const batch of readBatches(opts)) yield* batch;
    },
  };
}

export { readManifest as readStoreManifest, listSegments as listStoreSegments };
