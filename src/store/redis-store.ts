/**
 * The scale-out traffic store: one Redis Stream of exchange JSON lines plus a
 * manifest hash, under a key prefix taken from the URL (docs/store.md):
 *
 *   redis://[user:pass@]host:port[/db][?prefix=doppel:traffic:NAME][&cluster=1]
 *
 * Keys are `{PREFIX}:exchanges` and `{PREFIX}:manifest`: the hash tag puts
 * both keys of one store in one Redis Cluster slot, so a batch (XADDs plus the
 * manifest update) goes out as one pipeline to one node.
 */
import { Redis, Cluster, type ChainableCommander } from 'ioredis';
import { DoppelError } from '../core/errors.js';
import type { Exchange } from '../core/exchange.js';
import { decodeExchangeLine, encodeExchange } from './codec.js';
import type { CorruptRecord, ExchangeReader, ExchangeWriter, ReadOptions } from './types.js';
import { AppendBatcher } from './append-batcher.js';

export const REDIS_MANIFEST_VERSION = 1;
const DEFAULT_PREFIX = 'doppel:traffic';
/** the stream entry field holding the exchange JSON line */
const FIELD = 'x';

export function isRedisStoreUrl(location: string): boolean {
  return /^rediss?:\/\//i.test(location);
}

export interface RedisStoreLocation {
  /** the URL without credentials, for messages */
  display: string;
  prefix: string;
  streamKey: string;
  manifestKey: string;
  cluster: boolean;
  connect: () => Redis | Cluster;
}

/** Parses a store URL; the password never appears in `display`. */
export function parseRedisStoreUrl(url: string): RedisStoreLocation {
  let u: URL;
  try {
    u = new URL(url);
  } catch (cause) {
    throw new DoppelError('DOPPEL_USAGE', `not a valid redis:// store URL: ${url.replace(/\/\/[^@/]*@/, '//***@')}`, { cause });
  }
  const tls = u.protocol === 'rediss:';
  const prefix = u.searchParams.get('prefix') ?? DEFAULT_PREFIX;
  if (prefix === '' || /[{}]/.test(prefix)) throw new DoppelError('DOPPEL_USAGE', `redis store URL: prefix must be non-empty and free of { } (got ${JSON.stringify(prefix)})`);
  const cluster = ['1', 'true', 'yes'].includes((u.searchParams.get('cluster') ?? '').toLowerCase());
  const dbText = u.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0) throw new DoppelError('DOPPEL_USAGE', `redis store URL: database must be a number (got ${JSON.stringify(dbText)})`);
  if (cluster && db !== 0) throw new DoppelError('DOPPEL_USAGE', 'redis store URL: Redis Cluster has only database 0');
  const host = u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
  const port = u.port === '' ? 6379 : Number(u.port);
  const username = u.username === '' ? undefined : decodeURIComponent(u.username);
  const password = u.password === '' ? undefined : decodeURIComponent(u.password);
  const display = `${u.protocol}//${host.includes(':') ? `[${host}]` : host}:${port}/${db}?prefix=${prefix}${cluster ? '&cluster=1' : ''}`;
  const common = {
    lazyConnect: true,
    // A store that cannot be reached fails the command instead of queueing it forever.
    maxRetriesPerRequest: 2,
    ...(tls ? { tls: { servername: host } } : {}),
  };
  const connect = (): Redis | Cluster =>
    cluster
      ? new Cluster([{ host, port }], { lazyConnect: true, redisOptions: { ...common, ...(username ? { username } : {}), ...(password ? { password } : {}) } })
      : new Redis({ ...common, host, port, db, ...(username ? { username } : {}), ...(password ? { password } : {}) });
  return { display, prefix, streamKey: `{${prefix}}:exchanges`, manifestKey: `{${prefix}}:manifest`, cluster, connect };
}

async function open(loc: RedisStoreLocation): Promise<Redis | Cluster> {
  const client = loc.connect();
  // Without a listener ioredis prints connection errors itself; they surface through commands.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (cause) {
    client.disconnect();
    throw new DoppelError('DOPPEL_STORE_IO', `${loc.display}: cannot connect to Redis (${(cause as Error).message})`, { cause });
  }
  return client;
}

function checkManifestVersion(loc: RedisStoreLocation, manifest: Record<string, string>): void {
  const version = Number(manifest.version);
  if (manifest.format !== 'doppel-traffic' || Math.trunc(version) !== REDIS_MANIFEST_VERSION) {
    throw new DoppelError(
      'DOPPEL_STORE_VERSION',
      `${loc.manifestKey}: traffic format ${String(manifest.format)} version ${String(manifest.version)} is not supported (this doppel reads doppel-traffic version ${REDIS_MANIFEST_VERSION})`,
    );
  }
}

export interface RedisStoreWriterOptions {
  url: string;
  /** send a batch after this long */
  flushIntervalMs?: number;
  /** a batch of this many exchanges is sent at once */
  batchItems?: number;
  /** a batch this large is sent at once */
  batchBytes?: number;
}

class RedisStoreWriter implements ExchangeWriter {
  readonly #loc: RedisStoreLocation;
  readonly #client: Redis | Cluster;
  readonly #batcher: AppendBatcher<{ line: string; ex: Exchange }>;

  constructor(loc: RedisStoreLocation, client: Redis | Cluster, opts: Required<Omit<RedisStoreWriterOptions, 'url'>>, existingBytes: number) {
    this.#loc = loc;
    this.#client = client;
    this.#batcher = new AppendBatcher({
      name: loc.display,
      flushIntervalMs: opts.flushIntervalMs,
      batchItems: opts.batchItems,
      batchBytes: opts.batchBytes,
      existingBytes,
      send: (batch, bytes) => this.#send(batch, bytes),
    });
  }

  get bytesWritten(): number {
    return this.#batcher.bytesWritten;
  }

  append(exchange: Exchange): Promise<void> {
    const refused = this.#batcher.refusal();
    if (refused !== undefined) return Promise.reject(refused);
    const line = encodeExchange(exchange);
    // Counted as the file store counts a line (with its newline), so quotas mean the same on both.
    return this.#batcher.add({ line, ex: exchange }, Buffer.byteLength(line) + 1);
  }

  async #send(batch: Array<{ line: string; ex: Exchange }>, bytes: number): Promise<void> {
    const counts = { exchanges: 0, inbound: 0, outbound: 0, http: 0, pg: 0 };
    const services = new Set<string>();
    const p: ChainableCommander = this.#client.pipeline();
    for (const { line, ex } of batch) {
      p.xadd(this.#loc.streamKey, '*', FIELD, line);
      counts.exchanges++;
      counts[ex.direction]++;
      counts[ex.protocol]++;
      services.add(ex.service);
    }
    // HINCRBY, not a rewritten document: several writers may share one store.
    for (const [k, n] of Object.entries(counts)) if (n > 0) p.hincrby(this.#loc.manifestKey, `count:${k}`, n);
    p.hincrby(this.#loc.manifestKey, 'bytes', bytes);
    for (const s of services) p.hset(this.#loc.manifestKey, `service:${s}`, '1');
    p.hset(this.#loc.manifestKey, 'updated', new Date().toISOString());
    const results = (await p.exec()) ?? [];
    for (const [err] of results) if (err) throw err;
  }

  async flush(): Promise<void> {
    await this.#batcher.writePending();
    if (this.#batcher.failure !== undefined) throw this.#batcher.failure;
  }

  async close(): Promise<void> {
    if (this.#batcher.isClosed) return;
    await this.#batcher.close();
    await this.#client.quit().catch(() => this.#client.disconnect());
    if (this.#batcher.failure !== undefined) throw this.#batcher.failure;
  }
}

/** Opens (creating when missing) a Redis traffic store for appending. */
export async function createRedisStoreWriter(options: RedisStoreWriterOptions): Promise<ExchangeWriter> {
  const loc = parseRedisStoreUrl(options.url);
  const client = await open(loc);
  try {
    const now = new Date().toISOString();
    await client.hsetnx(loc.manifestKey, 'format', 'doppel-traffic');
    await client.hsetnx(loc.manifestKey, 'version', String(REDIS_MANIFEST_VERSION));
    await client.hsetnx(loc.manifestKey, 'created', now);
    const manifest = await client.hgetall(loc.manifestKey);
    checkManifestVersion(loc, manifest);
    return new RedisStoreWriter(
      loc,
      client,
      { flushIntervalMs: options.flushIntervalMs ?? 50, batchItems: options.batchItems ?? 500, batchBytes: options.batchBytes ?? 256 * 1024 },
      Number(manifest.bytes ?? 0),
    );
  } catch (err) {
    client.disconnect();
    if (err instanceof DoppelError) throw err;
    throw new DoppelError('DOPPEL_STORE_IO', `${loc.display}: cannot open the store (${(err as Error).message})`, { cause: err });
  }
}

const PAGE = 500;

async function* readStream(loc: RedisStoreLocation, opts: ReadOptions): AsyncGenerator<Exchange> {
  const client = await open(loc);
  const report = (r: CorruptRecord) => opts.onCorrupt?.(r);
  try {
    const manifest = await client.hgetall(loc.manifestKey);
    if (Object.keys(manifest).length === 0) throw new DoppelError('DOPPEL_STORE_NOT_FOUND', `${loc.display}: no traffic store at this prefix (${loc.manifestKey} does not exist)`);
    checkManifestVersion(loc, manifest);
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
          yield res.exchange;
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
  } finally {
    client.disconnect();
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
