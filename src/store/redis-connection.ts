/**
 * Redis store locations and connections (docs/store.md):
 *
 *   redis://[user:pass@]host:port[/db][?prefix=doppel:traffic:NAME][&cluster=1]
 *
 * Keys are `{PREFIX}:exchanges`, `{PREFIX}:manifest` and `{PREFIX}:writers`:
 * the hash tag puts every key of one store in one Redis Cluster slot, so a
 * batch (XADDs, manifest and writer updates) runs as one script on one node.
 *
 * Redis is never waited on without a bound: commands issued while the
 * connection is down fail at once instead of queueing (no offline queue), and
 * a writer's commands time out.
 */
import { createRequire } from 'node:module';
import type { Redis, Cluster, RedisOptions } from 'ioredis';
import { DoppelError } from '../core/errors.js';

// Loaded on the first connection, not at start-up: most commands never open Redis, and
// ioredis costs every CLI start about 170 ms to load. It is CommonJS, so a synchronous
// require keeps connect() synchronous.
let ioredis: typeof import('ioredis') | undefined;
const loadIoredis = (): typeof import('ioredis') => (ioredis ??= createRequire(import.meta.url)('ioredis') as typeof import('ioredis'));

export const REDIS_MANIFEST_VERSION = 1;
const DEFAULT_PREFIX = 'doppel:traffic';
/** the stream entry field holding the exchange JSON line */
export const FIELD = 'x';

export function isRedisStoreUrl(location: string): boolean {
  return /^rediss?:\/\//i.test(location);
}

export interface ConnectOptions {
  /** fail a command Redis has not answered in this long (writers; a reader's pages may be large) */
  commandTimeoutMs?: number;
}

export interface RedisStoreLocation {
  /** the URL without credentials, for messages */
  display: string;
  prefix: string;
  streamKey: string;
  manifestKey: string;
  /** hash of writer id -> last batch sequence number applied (exactly-once batches) */
  writersKey: string;
  cluster: boolean;
  connect: (opts?: ConnectOptions) => Redis | Cluster;
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
  const connect = (opts: ConnectOptions = {}): Redis | Cluster => {
    const common: RedisOptions = {
      lazyConnect: true,
      // A store that cannot be reached fails the command instead of queueing it: the
      // writer spools instead, and nothing in memory grows while Redis is away.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 5_000,
      ...(opts.commandTimeoutMs === undefined ? {} : { commandTimeout: opts.commandTimeoutMs }),
      ...(username ? { username } : {}),
      ...(password ? { password } : {}),
      ...(tls ? { tls: { servername: host } } : {}),
    };
    const lib = loadIoredis();
    return cluster
      ? new lib.Cluster([{ host, port }], { lazyConnect: true, enableOfflineQueue: false, redisOptions: common })
      : new lib.Redis({ ...common, host, port, db });
  };
  return {
    display,
    prefix,
    streamKey: `{${prefix}}:exchanges`,
    manifestKey: `{${prefix}}:manifest`,
    writersKey: `{${prefix}}:writers`,
    cluster,
    connect,
  };
}

/** Connects, or fails with DOPPEL_STORE_UNREACHABLE naming the URL (exit 2). */
export async function openRedis(loc: RedisStoreLocation, opts: ConnectOptions = {}): Promise<Redis | Cluster> {
  const client = loc.connect(opts);
  // Without a listener ioredis prints connection errors itself; they surface through commands.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (cause) {
    client.disconnect();
    throw new DoppelError('DOPPEL_STORE_UNREACHABLE', `${loc.display}: cannot connect to Redis (${(cause as Error).message})`, { cause });
  }
  return client;
}

export function checkManifestVersion(loc: RedisStoreLocation, manifest: Record<string, string>): void {
  const version = Number(manifest.version);
  if (manifest.format !== 'doppel-traffic' || Math.trunc(version) !== REDIS_MANIFEST_VERSION) {
    throw new DoppelError(
      'DOPPEL_STORE_VERSION',
      `${loc.manifestKey}: traffic format ${String(manifest.format)} version ${String(manifest.version)} is not supported (this doppel reads doppel-traffic version ${REDIS_MANIFEST_VERSION})`,
    );
  }
}
