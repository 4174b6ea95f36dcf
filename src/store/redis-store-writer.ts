/**
 * The Redis store writer: many recorders append to one store at once.
 *
 * Exactly once. Each batch runs as one Lua script (atomic, one Cluster slot):
 * its XADDs, the manifest's HINCRBYs and the writer's sequence number move
 * together, so counts equal the stream. A writer numbers its batches 1, 2, 3...
 * and sends them strictly in order; the script skips a batch whose number the
 * store has already taken from that writer. A batch sent again after a timeout
 * that Redis did apply (or drained from the spool twice) is not duplicated.
 *
 * Redis away. A batch Redis does not take goes to the local spool, and so does
 * every later batch while the spool holds anything (order is kept). The spool
 * drains in order, a few batches at a time between new ones, once Redis
 * answers again. What the spool cannot hold is dropped: the batch's appends
 * reject with DOPPEL_OVERLOADED and the recorder counts them.
 */
import type { Redis, Cluster } from 'ioredis';
import { DoppelError } from '../core/errors.js';
import type { Exchange } from '../core/exchange.js';
import { newExchangeId } from '../core/ids.js';
import { encodeExchange } from './codec.js';
import type { ExchangeWriter, LastFlush, SpoolState } from './types.js';
import { AppendBatcher } from './append-batcher.js';
import { Spool, type SpooledBatch, type SpoolOptions } from './spool.js';
import { checkManifestVersion, openRedis, parseRedisStoreUrl, REDIS_MANIFEST_VERSION, type RedisStoreLocation } from './redis-connection.js';

// KEYS: stream, manifest, writers. ARGV: writer, seq, version, now, bytes,
// count pairs (n, then name/delta...), services (n, then names...), then lines.
const APPEND_SCRIPT = `
local last = redis.call('HGET', KEYS[3], ARGV[1])
if last and tonumber(last) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
redis.call('HSETNX', KEYS[2], 'format', 'doppel-traffic')
redis.call('HSETNX', KEYS[2], 'version', ARGV[3])
redis.call('HSETNX', KEYS[2], 'created', ARGV[4])
redis.call('HSET', KEYS[2], 'updated', ARGV[4])
redis.call('HINCRBY', KEYS[2], 'bytes', ARGV[5])
local i = 7
for _ = 1, tonumber(ARGV[6]) do
  redis.call('HINCRBY', KEYS[2], 'count:' .. ARGV[i], ARGV[i + 1])
  i = i + 2
end
local services = tonumber(ARGV[i])
i = i + 1
for _ = 1, services do
  redis.call('HSET', KEYS[2], 'service:' .. ARGV[i], '1')
  i = i + 1
end
for j = i, #ARGV do
  redis.call('XADD', KEYS[1], '*', 'x', ARGV[j])
end
return 1
`;

type AppendCommand = (stream: string, manifest: string, writers: string, ...args: Array<string | number>) => Promise<number>;

/** What the writer tells its owner about the spool (for logs). */
export type SpoolEvent =
  | { kind: 'spooling'; dir: string | undefined; err: unknown }
  | { kind: 'drained'; batches: number }
  | { kind: 'dropped'; exchanges: number; reason: string };

export interface RedisStoreWriterOptions {
  url: string;
  /** send a batch after this long */
  flushIntervalMs?: number;
  /** a batch of this many exchanges is sent at once */
  batchItems?: number;
  /** a batch this large is sent at once */
  batchBytes?: number;
  /** names the recorder in the store's writers hash and in spool file names */
  recorderId?: string;
  spool?: SpoolOptions;
  /** a command Redis has not answered in this long fails (and its batch is spooled) */
  commandTimeoutMs?: number;
  /** how often a non-empty spool checks whether Redis is back */
  drainIntervalMs?: number;
  /** on close, how long to wait for Redis to take what is spooled */
  closeDrainMs?: number;
  onSpool?: (event: SpoolEvent) => void;
}

interface Pending {
  line: string;
  ex: Exchange;
}

/** batches sent from the spool per turn of the batch chain, so new batches are not held long */
const DRAIN_STEP = 16;

class RedisStoreWriter implements ExchangeWriter {
  readonly #loc: RedisStoreLocation;
  readonly #client: Redis | Cluster;
  readonly #batcher: AppendBatcher<Pending>;
  readonly #spool: Spool;
  readonly #writerId: string;
  readonly #opts: { drainIntervalMs: number; closeDrainMs: number; onSpool: ((event: SpoolEvent) => void) | undefined };
  #seq = 0;
  #drainTimer: NodeJS.Timeout | undefined;
  #isOffline = false;
  #drainedSinceOffline = 0;
  #isClosing = false;
  /** the batch being sent or spooled: a forced stop spools it again (its number keeps it from counting twice) */
  #inFlight: SpooledBatch | undefined;

  constructor(loc: RedisStoreLocation, client: Redis | Cluster, spool: Spool, opts: RedisStoreWriterOptions, existingBytes: number) {
    this.#loc = loc;
    this.#client = client;
    this.#spool = spool;
    this.#writerId = `${opts.recorderId ?? 'writer'}/${newExchangeId()}`;
    this.#opts = { drainIntervalMs: opts.drainIntervalMs ?? 500, closeDrainMs: opts.closeDrainMs ?? 5_000, onSpool: opts.onSpool };
    client.defineCommand('doppelAppend', { numberOfKeys: 3, lua: APPEND_SCRIPT });
    this.#batcher = new AppendBatcher({
      name: loc.display,
      flushIntervalMs: opts.flushIntervalMs ?? 50,
      batchItems: opts.batchItems ?? 500,
      batchBytes: opts.batchBytes ?? 256 * 1024,
      existingBytes,
      send: (batch, bytes) => this.#send(batch, bytes),
      // A batch the spool could not hold is lost alone; the writer goes on.
      isFatal: (err) => !(err instanceof DoppelError && err.code === 'DOPPEL_OVERLOADED'),
    });
    if (!spool.isEmpty) this.#goOffline(undefined);
  }

  get bytesWritten(): number {
    return this.#batcher.bytesWritten;
  }

  spoolState(): SpoolState {
    return { spooling: this.#isOffline, batches: this.#spool.batches, bytes: this.#spool.bytes, maxBytes: this.#spool.maxBytes };
  }

  append(exchange: Exchange): Promise<void> {
    const refused = this.#batcher.refusal();
    if (refused !== undefined) return Promise.reject(refused);
    const line = encodeExchange(exchange);
    // Counted as the file store counts a line (with its newline), so quotas mean the same on both.
    return this.#batcher.add({ line, ex: exchange }, Buffer.byteLength(line) + 1);
  }

  appendBatch(exchanges: readonly Exchange[], lines?: readonly string[]): Promise<void> {
    const refused = this.#batcher.refusal();
    if (refused !== undefined) return Promise.reject(refused);
    const items = new Array<Pending>(exchanges.length);
    let total = 0;
    for (let i = 0; i < exchanges.length; i++) {
      const ex = exchanges[i] as Exchange;
      const line = lines?.[i] ?? encodeExchange(ex);
      items[i] = { line, ex };
      total += Buffer.byteLength(line) + 1;
    }
    return this.#batcher.addMany(items, total);
  }

  /** Numbers a batch: from here on it is applied once, whether sent, spooled, or both. */
  #toBatch(batch: readonly Pending[], bytes: number): SpooledBatch {
    const counts: Record<string, number> = { exchanges: 0, inbound: 0, outbound: 0, http: 0, pg: 0 };
    const services = new Set<string>();
    for (const { ex } of batch) {
      (counts.exchanges as number)++;
      counts[ex.direction] = (counts[ex.direction] ?? 0) + 1;
      counts[ex.protocol] = (counts[ex.protocol] ?? 0) + 1;
      services.add(ex.service);
    }
    return {
      header: { writer: this.#writerId, seq: ++this.#seq, bytes, counts, services: [...services] },
      lines: batch.map((p) => p.line),
    };
  }

  async #send(batch: Pending[], bytes: number): Promise<void> {
    const b = this.#toBatch(batch, bytes);
    this.#inFlight = b;
    try {
      await this.#sendNumbered(b, batch.length);
    } finally {
      this.#inFlight = undefined;
    }
  }

  async #sendNumbered(b: SpooledBatch, exchanges: number): Promise<void> {
    if (this.#spool.isEmpty) {
      try {
        await this.#apply(b);
        if (this.#isOffline) this.#backOnline();
        return;
      } catch (err) {
        this.#goOffline(err);
      }
    }
    let isHeld: boolean;
    try {
      isHeld = await this.#spool.put(b);
    } catch (cause) {
      this.#opts.onSpool?.({ kind: 'dropped', exchanges, reason: 'spool_error' });
      throw new DoppelError('DOPPEL_OVERLOADED', `${this.#loc.display}: Redis did not take a batch and the spool cannot be written (${(cause as Error).message})`, { cause });
    }
    if (!isHeld) {
      this.#opts.onSpool?.({ kind: 'dropped', exchanges, reason: 'spool_full' });
      throw new DoppelError('DOPPEL_OVERLOADED', `${this.#loc.display}: Redis did not take a batch and the spool is full (${this.#spool.bytes} bytes)`);
    }
    this.#armDrain(this.#opts.drainIntervalMs);
  }

  async #apply(b: SpooledBatch): Promise<void> {
    const h = b.header;
    const countArgs = Object.entries(h.counts).filter(([, n]) => n > 0);
    const args: Array<string | number> = [h.writer, h.seq, REDIS_MANIFEST_VERSION, new Date().toISOString(), h.bytes, countArgs.length];
    for (const [k, n] of countArgs) args.push(k, n);
    args.push(h.services.length, ...h.services, ...b.lines);
    const run = (this.#client as unknown as { doppelAppend: AppendCommand }).doppelAppend;
    await run.call(this.#client, this.#loc.streamKey, this.#loc.manifestKey, this.#loc.writersKey, ...args);
  }

  #goOffline(err: unknown): void {
    if (this.#isOffline) return;
    this.#isOffline = true;
    this.#drainedSinceOffline = 0;
    this.#opts.onSpool?.({ kind: 'spooling', dir: this.#spool.dir, err });
    this.#armDrain(this.#opts.drainIntervalMs);
  }

  #armDrain(delayMs: number): void {
    if (this.#drainTimer !== undefined || this.#isClosing) return;
    this.#drainTimer = setTimeout(() => {
      this.#drainTimer = undefined;
      if (this.#spool.isEmpty) return;
      if (this.#client.status !== 'ready') {
        this.#armDrain(this.#opts.drainIntervalMs);
        return;
      }
      // On the batch chain: a drain never runs beside a batch being sent, so order holds.
      void this.#batcher.after(async () => void (await this.#drainSome()));
    }, delayMs);
    this.#drainTimer.unref();
  }

  /** Sends the oldest spooled batches; true when the spool is empty. Never throws (it runs on the batch chain). */
  async #drainSome(): Promise<boolean> {
    for (let i = 0; i < DRAIN_STEP; i++) {
      let b: SpooledBatch | undefined;
      try {
        b = await this.#spool.peek();
        if (b === undefined) break;
        await this.#apply(b);
        await this.#spool.shift();
        this.#drainedSinceOffline++;
      } catch {
        this.#armDrain(this.#opts.drainIntervalMs);
        return false;
      }
    }
    if (!this.#spool.isEmpty) {
      this.#armDrain(0);
      return false;
    }
    if (this.#isOffline) this.#backOnline();
    return true;
  }

  #backOnline(): void {
    this.#isOffline = false;
    this.#opts.onSpool?.({ kind: 'drained', batches: this.#drainedSinceOffline });
  }

  async flush(): Promise<void> {
    await this.#batcher.writePending();
    if (this.#batcher.failure !== undefined) throw this.#batcher.failure;
  }

  /**
   * A forced stop. ioredis has no synchronous command, so nothing can reach
   * Redis before the process ends: the batch in flight and every queued one go
   * to the spool with synchronous writes, in order, and the next recorder with
   * that spool directory applies them (each exactly once, by its number).
   */
  flushSync(deadline: number): LastFlush {
    this.#isClosing = true;
    if (this.#drainTimer !== undefined) clearTimeout(this.#drainTimer);
    const batches: SpooledBatch[] = [];
    if (this.#inFlight !== undefined) batches.push(this.#inFlight);
    for (const items of this.#batcher.takeUnsent()) batches.push(this.#toBatch(items, items.reduce((n, p) => n + Buffer.byteLength(p.line) + 1, 0)));
    let written = 0;
    let lost = 0;
    let reason: string | undefined;
    for (const b of batches) {
      const n = b.lines.length;
      if (reason !== undefined) {
        lost += n;
        continue;
      }
      try {
        if (Date.now() > deadline) throw new Error('out of time');
        if (this.#spool.putSync(b) === undefined) throw new Error(`spool full (${this.#spool.bytes} bytes)`);
        written += n;
      } catch (err) {
        reason = (err as Error).message;
        lost += n;
      }
    }
    this.#client.disconnect();
    return { written, lost, where: `spool ${this.#spool.dir ?? '(none)'}`, ...(reason === undefined ? {} : { reason }) };
  }

  async close(): Promise<void> {
    if (this.#batcher.isClosed) return;
    await this.#batcher.close();
    this.#isClosing = true;
    if (this.#drainTimer !== undefined) clearTimeout(this.#drainTimer);
    // The last chance for what is spooled: drain while Redis answers, for a bounded time.
    const deadline = Date.now() + this.#opts.closeDrainMs;
    while (!this.#spool.isEmpty && Date.now() < deadline) {
      if (this.#client.status === 'ready' && (await this.#drainSome())) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (this.#drainTimer !== undefined) clearTimeout(this.#drainTimer);
    await this.#spool.close();
    await this.#client.quit().catch(() => this.#client.disconnect());
    if (!this.#spool.isEmpty) {
      throw new DoppelError(
        'DOPPEL_STORE_IO',
        `${this.#loc.display}: Redis did not come back before the stop: ${this.#spool.batches} batches (${this.#spool.bytes} bytes) stay in the spool ${this.#spool.dir ?? ''}; a recorder started with store.spool.dir set to it drains them`,
      );
    }
    if (this.#batcher.failure !== undefined) throw this.#batcher.failure;
  }
}

/** Opens (creating when missing) a Redis traffic store for appending. */
export async function createRedisStoreWriter(options: RedisStoreWriterOptions): Promise<ExchangeWriter> {
  const loc = parseRedisStoreUrl(options.url);
  const client = await openRedis(loc, { commandTimeoutMs: options.commandTimeoutMs ?? 5_000 });
  try {
    const now = new Date().toISOString();
    await client.hsetnx(loc.manifestKey, 'format', 'doppel-traffic');
    await client.hsetnx(loc.manifestKey, 'version', String(REDIS_MANIFEST_VERSION));
    await client.hsetnx(loc.manifestKey, 'created', now);
    const manifest = await client.hgetall(loc.manifestKey);
    checkManifestVersion(loc, manifest);
    const spool = await Spool.open(options.spool ?? { maxBytes: 128 * 1024 * 1024 }, loc.display);
    return new RedisStoreWriter(loc, client, spool, options, Number(manifest.bytes ?? 0));
  } catch (err) {
    client.disconnect();
    if (err instanceof DoppelError) throw err;
    throw new DoppelError('DOPPEL_STORE_IO', `${loc.display}: cannot open the store (${(err as Error).message})`, { cause: err });
  }
}
