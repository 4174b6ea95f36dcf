/**
 * The Redis Streams coordinator (issue #16): one consumer group hands out
 * sessions, one stream entry per session. Every key of a run carries the hash
 * tag `{doppel:run:ID}`, so a run lives in one Redis Cluster slot and its
 * transactions and scripts run on one node.
 *
 *   :sessions   stream, one entry per session (field s); group `workers`
 *   :s:SESSION  list of the session's exchange lines, deleted once committed
 *   :meta       hash: loaded, sessions, loader
 *   :alive      sorted set: worker -> heartbeat expiry (Redis server time, ms)
 *   :finished   set of workers that finished; :reporter the one that wrote the report
 *   :partials   hash: worker -> its WorkerPartial JSON
 *   :diffs, :results  lists of report lines
 *
 * A live worker renews its leases (XCLAIM JUSTID to itself resets their idle
 * time) every poll; a lost worker's leases go idle, and after the claim
 * timeout XAUTOCLAIM hands them to another (at-least-once per session).
 * Liveness is read on Redis's clock (TIME in scripts), never compared across
 * machines' clocks.
 */
import { hostname } from 'node:os';
import type { Redis, Cluster } from 'ioredis';
import { DoppelError } from '../../core/errors.js';
import { openRedis, parseRedisStoreUrl } from '../../store/redis-connection.js';
import { coordinationTiming, type CommitLines, type Coordinator, type CoordinationTiming, type SessionLease, type WorkerPartial } from './types.js';

const GROUP = 'workers';
const PAGE = 1000;

// KEYS: alive. ARGV: worker, ttl ms.
const HEARTBEAT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return redis.call('ZCOUNT', KEYS[1], now, '+inf')
`;

// KEYS: alive, finished, reporter. ARGV: worker. 0: others still working, 1: this one reports, 2: another did.
const FINISH = `
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('ZCOUNT', KEYS[1], now, '+inf') > 0 then return 0 end
if redis.call('SET', KEYS[3], ARGV[1], 'NX') then return 1 end
return 2
`;

export interface RedisCoordinatorOptions {
  /** redis://HOST:PORT/DB[?cluster=1] */
  url: string;
  runId: string;
  workerId?: string;
  claimTimeoutMs: number;
}

type Client = Redis | Cluster;

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });
}

/**
 * Workers of one run start together; a Cluster's first slot refresh can fail while many clients
 * connect at once. A few tries, then the URL is reported as unreachable (exit 2).
 */
async function connectWithRetry(loc: ReturnType<typeof parseRedisStoreUrl>): Promise<Client> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await openRedis(loc, { commandTimeoutMs: 15_000 });
    } catch (err) {
      if (attempt >= 3) throw err;
      await sleep(500 * attempt);
    }
  }
}

export function defaultWorkerId(): string {
  return `${hostname()}-${process.pid}`;
}

export async function createRedisCoordinator(opts: RedisCoordinatorOptions): Promise<Coordinator> {
  const loc = parseRedisStoreUrl(opts.url);
  const client: Client = await connectWithRetry(loc);
  const timing: CoordinationTiming = coordinationTiming(opts.claimTimeoutMs);
  const workerId = opts.workerId ?? defaultWorkerId();
  const tag = `{doppel:run:${opts.runId}}`;
  const key = {
    sessions: `${tag}:sessions`,
    meta: `${tag}:meta`,
    alive: `${tag}:alive`,
    finished: `${tag}:finished`,
    reporter: `${tag}:reporter`,
    partials: `${tag}:partials`,
    diffs: `${tag}:diffs`,
    results: `${tag}:results`,
    session: (s: string) => `${tag}:s:${s}`,
  };
  const display = `${loc.display.replace(/\?prefix=[^&]*&?/, '?').replace(/\?$/, '')} run ${opts.runId}`;
  /** entries leased and not yet committed: renewed every poll so they never look idle */
  const held = new Set<string>();
  let beat: NodeJS.Timeout | undefined;
  const heartbeat = async (): Promise<number> => Number(await client.eval(HEARTBEAT, 1, key.alive, workerId, Math.ceil(opts.claimTimeoutMs / 2)));
  const renew = async () => {
    await heartbeat();
    if (held.size > 0) await client.xclaim(key.sessions, GROUP, workerId, 0, ...held, 'JUSTID');
  };

  /** sessions this worker loaded and holds whole: leased fresh, their lines are not read back */
  let kept: ReadonlySet<string> = new Set();
  const lease = async (entries: Array<[string, string[]]>, isResent: boolean): Promise<SessionLease[]> => {
    const out: SessionLease[] = [];
    // The first page of every session in one round trip; only sessions longer than a page ask again.
    const read = client.pipeline();
    for (const [entry, fields] of entries) {
      const session = fields[fields.indexOf('s') + 1] ?? '';
      held.add(entry);
      const lease: SessionLease = { entry, session, lines: [], isResent };
      if (!isResent && kept.has(session)) lease.isLocal = true;
      else read.lrange(key.session(session), 0, PAGE - 1);
      out.push(lease);
    }
    const pages = read.length === 0 ? [] : ((await read.exec()) ?? []);
    let at = 0;
    for (const l of out) {
      if (l.isLocal === true) continue;
      const [err, page] = pages[at++] ?? [new Error('no answer'), []];
      if (err !== null) throw err;
      l.lines = page as string[];
      if (l.lines.length < PAGE) continue;
      for (let i = PAGE; ; i += PAGE) {
        const more = await client.lrange(key.session(l.session), i, i + PAGE - 1);
        l.lines.push(...more);
        if (more.length < PAGE) break;
      }
    }
    return out;
  };

  return {
    workerId,
    display,
    isStoreShared: false,
    async join() {
      await heartbeat();
      beat = setInterval(() => {
        // A missed renewal is retried at the next tick; leases only go idle after several.
        renew().catch(() => undefined);
      }, timing.pollMs);
      beat.unref();
    },
    async claimLoad() {
      return (await client.set(`${tag}:loader`, workerId, 'NX')) === 'OK';
    },
    async loadBatch(items) {
      if (items.length === 0) return 0;
      const push = client.pipeline();
      for (const [session, line] of items) push.rpush(key.session(session), line);
      const lengths = (await push.exec()) ?? [];
      const add = client.pipeline();
      let added = 0;
      items.forEach(([session], i) => {
        const [err, len] = lengths[i] ?? [null, 0];
        if (err !== null) throw err;
        // The first line of a session creates its list: the session gets its one entry.
        if (len === 1) {
          add.xadd(key.sessions, '*', 's', session);
          added++;
        }
      });
      for (const [err] of (await add.exec()) ?? []) if (err !== null) throw err;
      return added;
    },
    async loadDone(sessions, keptSessions) {
      kept = keptSessions;
      try {
        await client.xgroup('CREATE', key.sessions, GROUP, '0', 'MKSTREAM');
      } catch (err) {
        if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
      }
      await client.hset(key.meta, 'loaded', '1', 'sessions', String(sessions), 'loader', workerId);
    },
    async waitLoaded(signal) {
      for (;;) {
        if (signal.aborted) return;
        if ((await client.hget(key.meta, 'loaded')) === '1') return;
        const loader = await client.get(`${tag}:loader`);
        if (loader !== null) {
          const expiry = await client.zscore(key.alive, loader);
          // The heartbeat lapses a claim timeout after a loader is lost.
          if (expiry === null || Number(expiry) < Number((await client.time())[0]) * 1000) {
            throw new DoppelError('DOPPEL_RUN_ABORTED', `${display}: the worker loading the traffic (${loader}) was lost before it finished; start the run again under a new --run-id`);
          }
        }
        await sleep(timing.pollMs, signal);
      }
    },
    async next(max) {
      const fresh = (await client.xreadgroup('GROUP', GROUP, workerId, 'COUNT', max, 'STREAMS', key.sessions, '>')) as Array<[string, Array<[string, string[]]>]> | null;
      const entries = fresh?.[0]?.[1] ?? [];
      if (entries.length > 0) return { leases: await lease(entries, false), isDone: false };
      const claimed = (await client.xautoclaim(key.sessions, GROUP, workerId, opts.claimTimeoutMs, '0-0', 'COUNT', max)) as [string, Array<[string, string[]] | null>, string[]?];
      // Entries deleted since they were leased come back as null (Redis 7): nothing to replay.
      const live = (claimed[1] ?? []).filter((e): e is [string, string[]] => e !== null);
      if (live.length > 0) return { leases: await lease(live, true), isDone: false };
      const pending = (await client.xpending(key.sessions, GROUP)) as [number, ...unknown[]];
      return { leases: [], isDone: Number(pending[0]) === 0 };
    },
    async liveWorkers() {
      return Math.max(1, await heartbeat());
    },
    async commit(partial, finished, lines) {
      const tx = client.multi();
      tx.hset(key.partials, workerId, JSON.stringify(partial));
      for (let i = 0; i < lines.diffs.length; i += PAGE) tx.rpush(key.diffs, ...lines.diffs.slice(i, i + PAGE));
      for (let i = 0; i < lines.results.length; i += PAGE) tx.rpush(key.results, ...lines.results.slice(i, i + PAGE));
      if (finished.length > 0) {
        tx.xack(key.sessions, GROUP, ...finished.map((l) => l.entry));
        tx.del(...finished.map((l) => key.session(l.session)));
      }
      const res = await tx.exec();
      for (const [err] of res ?? []) if (err !== null) throw err;
      for (const l of finished) held.delete(l.entry);
    },
    async leave() {
      if (beat !== undefined) clearInterval(beat);
      beat = undefined;
      await client.zrem(key.alive, workerId);
    },
    async finish() {
      if (beat !== undefined) clearInterval(beat);
      beat = undefined;
      for (;;) {
        const r = Number(await client.eval(FINISH, 3, key.alive, key.finished, key.reporter, workerId));
        if (r !== 0) return r === 1;
        await sleep(timing.pollMs);
      }
    },
    async partials() {
      const all = await client.hgetall(key.partials);
      return Object.keys(all)
        .sort()
        .map((w) => JSON.parse(all[w] as string) as WorkerPartial);
    },
    async *lines(kind: keyof CommitLines) {
      const k = key[kind];
      for (let i = 0; ; i += PAGE) {
        const page = await client.lrange(k, i, i + PAGE - 1);
        if (page.length > 0) yield page;
        if (page.length < PAGE) return;
      }
    },
    async close() {
      if (beat !== undefined) clearInterval(beat);
      client.disconnect();
    },
  };
}
