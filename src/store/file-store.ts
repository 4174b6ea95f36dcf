/**
 * The embedded traffic store: a directory of NDJSON segments (optionally
 * gzip) plus manifest.json. NDJSON stays the source of truth so grep, jq and
 * zcat work on it. Lines are written whole; gzip segments are written as
 * complete gzip members, one per batch, so a crash loses at most the block
 * being written, and the reader accepts a cut-off tail.
 */
import { createReadStream, constants as fsConstants } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, stat, writeFile, chmod, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { createGunzip, gzip } from 'node:zlib';
import { promisify } from 'node:util';

const gzipAsync = promisify(gzip);
import { DoppelError } from '../core/errors.js';
import type { Exchange } from '../core/exchange.js';
import { decodeExchangeLine, encodeExchange } from './codec.js';
import type { CorruptRecord, ExchangeReader, ExchangeWriter, ReadOptions, StoreManifest } from './types.js';
import { AppendBatcher } from './append-batcher.js';

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

class FileStoreWriter implements ExchangeWriter {
  readonly #dir: string;
  readonly #gzip: boolean;
  readonly #segmentBytes: number;
  #manifest: StoreManifest;
  #services: Set<string>;
  #segmentNo: number;
  #segmentSize = 0;
  #fh: FileHandle | undefined;
  readonly #batcher: AppendBatcher<string>;

  constructor(opts: Required<FileStoreWriterOptions>, manifest: StoreManifest, nextSegment: number, existingBytes: number) {
    this.#dir = opts.dir;
    this.#gzip = opts.gzip;
    this.#segmentBytes = opts.segmentBytes;
    this.#manifest = manifest;
    this.#services = new Set(manifest.services);
    this.#segmentNo = nextSegment;
    this.#batcher = new AppendBatcher<string>({
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
    const line = encodeExchange(exchange) + '\n';
    this.#count(exchange);
    return this.#batcher.add(line, Buffer.byteLength(line));
  }

  #count(ex: Exchange): void {
    const c = this.#manifest.counts;
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

  async #openSegment(): Promise<void> {
    const file = join(this.#dir, segmentName(this.#segmentNo, this.#gzip));
    // wx: never append to a segment a crashed writer may have left torn.
    this.#fh = await open(file, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
    this.#segmentSize = 0;
    this.#manifest.counts.segments++;
  }

  async #writeLines(lines: string[]): Promise<void> {
    let i = 0;
    while (i < lines.length) {
      if (!this.#fh) await this.#openSegment();
      // Fill the current segment up to its size, always with whole lines.
      let chunk = '';
      let chunkBytes = 0;
      while (i < lines.length) {
        const line = lines[i] as string;
        const lb = Buffer.byteLength(line);
        if (chunkBytes > 0 && this.#segmentSize + chunkBytes + lb > this.#segmentBytes) break;
        chunk += line;
        chunkBytes += lb;
        i++;
      }
      // Each batch is one complete gzip member: concatenated members are a valid
      // gzip file (RFC 1952 §2.2), and a crash can only cut the last member.
      if (this.#gzip) await (this.#fh as FileHandle).write(await gzipAsync(chunk));
      else await (this.#fh as FileHandle).write(chunk);
      this.#segmentSize += chunkBytes;
      if (this.#segmentSize >= this.#segmentBytes) await this.#rotate();
    }
  }

  async #closeSegment(): Promise<void> {
    if (!this.#fh) return;
    await this.#fh.sync();
    await this.#fh.close();
    this.#fh = undefined;
  }

  async #rotate(): Promise<void> {
    await this.#closeSegment();
    this.#segmentNo++;
    await this.#writeManifest();
  }

  async #writeManifest(): Promise<void> {
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
      if (this.#fh) await this.#fh.sync();
      await this.#writeManifest();
    });
  }

  async close(): Promise<void> {
    if (this.#batcher.isClosed) return;
    await this.#batcher.close();
    await this.#batcher.after(async () => {
      await this.#closeSegment();
      await this.#writeManifest();
    });
    if (this.#batcher.failure !== undefined) throw this.#batcher.failure;
  }
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

/** Splits a byte stream into lines without joining the whole file in memory. */
async function* readLines(stream: NodeJS.ReadableStream): AsyncGenerator<{ line: string; complete: boolean }> {
  let rest = '';
  for await (const chunk of stream) {
    const text = rest + (typeof chunk === 'string' ? chunk : (chunk).toString('utf8'));
    let start = 0;
    let nl = text.indexOf('\n', start);
    while (nl !== -1) {
      yield { line: text.slice(start, nl), complete: true };
      start = nl + 1;
      nl = text.indexOf('\n', start);
    }
    rest = text.slice(start);
  }
  if (rest.length > 0) yield { line: rest, complete: false };
}

async function* readSegment(file: string, gzip: boolean, opts: ReadOptions): AsyncGenerator<Exchange> {
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
  try {
    for await (const { line, complete } of readLines(stream)) {
      lineNo++;
      if (line.trim() === '') continue;
      const res = decodeExchangeLine(line, file, lineNo);
      if (res.ok) yield res.exchange;
      else report({ source: file, line: lineNo, reason: complete ? res.reason : `cut-off last line (${res.reason})`, isTail: !complete });
    }
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
  return {
    async *read(opts: ReadOptions = {}) {
      for (const dir of dirs) {
        let st;
        try {
          st = await stat(dir);
        } catch {
          throw new DoppelError('DOPPEL_STORE_NOT_FOUND', `${dir}: traffic directory does not exist`);
        }
        if (!st.isDirectory()) throw new DoppelError('DOPPEL_STORE_NOT_FOUND', `${dir}: not a traffic directory`);
        await readManifest(dir);
        for (const seg of await listSegments(dir)) yield* readSegment(join(dir, seg.name), seg.gzip, opts);
      }
    },
  };
}

export { readManifest as readStoreManifest, listSegments as listStoreSegments };
