/**
 * The loader of a local run (`--workers N`): it reads the traffic once, gathers each session's
 * exchanges, and hands a session over whole once it has read a look-ahead window of exchanges
 * past its last one. Every worker leases it from then on, while the loader reads on, so nobody
 * waits for the whole traffic to be read and the run holds only what is not yet played.
 *
 * The loader plays sessions too. It keeps the ones it will play itself parsed (`isOwn`), about
 * as many as a lease call would grant it, and takes them from here without a lease call or a
 * second parse; the rest travel as store references. It stops reading while both its own and the
 * others' sessions are that far ahead of the players.
 *
 * A session that comes back after it was handed over is a piece of it: the run plays it after the
 * earlier slot, and the window grows, as the scheduler's look-ahead does.
 */
import { DoppelError } from '../../core/errors.js';
import { RecentMap } from '../../core/recent-map.js';
import type { HttpExchange } from '../../core/exchange.js';
import type { Logger } from '../../core/logger.js';
import { encodeExchange } from '../../store/codec.js';
import { LookAheadWindow } from '../session-scheduler.js';
import { REF_MARK, type Coordinator, type LoadedSession } from './types.js';

/** Exchanges read past a session's last one before it is handed over: at first, and at most. */
const FIRST_WINDOW = 1024;
const MAX_WINDOW = 10_000;
/** Sessions handed over, ids remembered to recognise one that comes back as a piece. */
const ENDED_MEMORY = 10_000;
/** Sessions handed over per call. */
const HAND_OVER = 256;
/** Sessions waiting for the other workers before the loader pauses (while its own are ready too). */
const SHARED_AHEAD = 4096;
/** Encoded bytes of traffic held parsed at once: past it, sessions only travel as references. */
const OWN_MAX_BYTES = 32 * 1024 * 1024;
const PAUSE_MS = 5;
/** Own sessions taken from the head of their queue, let go of in one slice once this many. */
const OWN_COMPACT = 1024;

interface OpenSession {
  items: string[];
  /** the parsed exchanges, while the session may still be the loader's own */
  parsed: HttpExchange[] | undefined;
  bytes: number;
  /** count of exchanges read when its last one was */
  lastAt: number;
  isPiece: boolean;
}

/** A session the loader plays itself: already granted to it in the run. */
export interface OwnSession {
  slot: number;
  session: string;
  exchanges: HttpExchange[];
  bytes: number;
  isPiece: boolean;
}

export interface StreamLoaderOptions {
  coordinator: Coordinator;
  sessionOf: (ex: HttpExchange) => string;
  /** where the store keeps an exchange, for the others to read it there */
  refOf?: (ex: HttpExchange) => { ref: string; bytes: number } | undefined;
  /**
   * Sessions of its own the loader keeps ready to play before it hands the rest to the others:
   * about what a lease call would grant it. More, and a short run is the loader's alone before
   * the other workers have started.
   */
  ownAhead: () => number;
  log: Logger;
}

/** Sleeps up to `ms`; `hold` is given what ends the sleep early. */
function sleepUnlessWoken(ms: number, hold: (wake: () => void) => void): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    hold(() => {
      clearTimeout(t);
      resolve();
    });
  });
}

export class StreamLoader {
  readonly #o: StreamLoaderOptions;
  readonly #open = new Map<string, OpenSession>();
  /** the last sessions handed over, to recognise one that comes back as a piece */
  readonly #ended = new RecentMap<string, true>(ENDED_MEMORY);
  /**
   * Every exchange read, in order: its session and its count, to find the sessions ended. Not by
   * iterating #open from its front: a Map read from its front while entries are deleted there
   * skips every entry deleted since its last rehash, which cost tens of µs a session.
   */
  #touchedSessions: string[] = [];
  #touchedAt: number[] = [];
  #touchedHead = 0;
  readonly #window = new LookAheadWindow(FIRST_WINDOW, MAX_WINDOW);
  #pending: LoadedSession[] = [];
  #pendingOwn: Array<OpenSession | undefined> = [];
  #pendingOwnCount = 0;
  /** own sessions handed over, taken from `#ownAt` on (let go of once taken) */
  #own: Array<OwnSession | undefined> = [];
  #ownAt = 0;
  /** own sessions handed over or about to be, not yet taken */
  #ownCount = 0;
  #heldBytes = 0;
  /** sessions the others have not leased yet, as the run last said */
  #waiting = 0;
  /** wakes the reading loop paused in #pace */
  #wakeReader: (() => void) | undefined;
  /** wakes the player waiting in ready() */
  #wakePlayer: (() => void) | undefined;
  #isDone = false;
  #sessions = 0;
  #exchanges = 0;

  constructor(opts: StreamLoaderOptions) {
    this.#o = opts;
  }

  /** True once every session is handed over. */
  get isDone(): boolean {
    return this.#isDone;
  }

  /** Reads `source` to its end into the run, then tells it so. */
  async load(source: AsyncIterable<readonly HttpExchange[]>, signal: AbortSignal): Promise<void> {
    const c = this.#o.coordinator;
    const refOf = c.isStoreShared ? this.#o.refOf : undefined;
    try {
      let read = 0;
      for await (const batch of source) {
        for (const ex of batch) {
          read++;
          const session = this.#o.sessionOf(ex);
          let o = this.#open.get(session);
          if (o === undefined) {
            const isPiece = this.#ended.has(session);
            if (isPiece) this.#window.grow();
            o = { items: [], parsed: this.#heldBytes < OWN_MAX_BYTES ? [] : undefined, bytes: 0, lastAt: 0, isPiece };
            this.#open.set(session, o);
          }
          this.#touchedSessions.push(session);
          this.#touchedAt.push(read);
          o.lastAt = read;
          const at = refOf?.(ex);
          const item = at === undefined ? encodeExchange(ex) : REF_MARK + at.ref;
          o.items.push(item);
          if (o.parsed !== undefined) {
            const bytes = at === undefined ? item.length : at.bytes;
            o.parsed.push(ex);
            o.bytes += bytes;
            this.#heldBytes += bytes;
            // Past the bound, a session that grows drops its copy whole: it travels as references.
            if (this.#heldBytes > OWN_MAX_BYTES) {
              this.#heldBytes -= o.bytes;
              o.parsed = undefined;
            }
          }
        }
        this.#exchanges = read;
        this.#endIdle(read - this.#window.size);
        // At once where the loader's own are among them: it may be waiting to play them.
        if (this.#pending.length >= HAND_OVER || this.#pendingOwnCount > 0) await this.#handOver();
        await this.#pace(signal);
        if (signal.aborted) break;
      }
      this.#endIdle(Number.POSITIVE_INFINITY);
      await this.#handOver();
      await c.loadDone(this.#sessions, new Set());
      this.#o.log.info({ sessions: this.#sessions, exchanges: this.#exchanges, window: this.#window.size, coordinator: c.display }, 'traffic loaded into the run');
    } catch (err) {
      // The others are told at once rather than waiting out the claim timeout for a loader that is gone.
      await c.loadFailed?.((err as Error).message).catch(() => undefined);
      throw err;
    } finally {
      this.#isDone = true;
      this.#wakePlayer?.();
    }
  }

  /** Ends every session whose last exchange was read at `horizon` or before. */
  #endIdle(horizon: number): void {
    const sessions = this.#touchedSessions;
    const at = this.#touchedAt;
    let h = this.#touchedHead;
    for (; h < at.length && (at[h] as number) <= horizon; h++) {
      const session = sessions[h] as string;
      const o = this.#open.get(session);
      // Touched again later (or ended already): a later entry of the queue stands for it.
      if (o !== undefined && o.lastAt === at[h]) this.#end(session, o);
    }
    if (h > 4096 && h * 2 > at.length) {
      this.#touchedSessions = sessions.slice(h);
      this.#touchedAt = at.slice(h);
      h = 0;
    }
    this.#touchedHead = h;
  }

  /** The session is handed over: the loader's own if it has few in hand, else the others'. */
  #end(session: string, o: OpenSession): void {
    this.#open.delete(session);
    this.#ended.set(session, true);
    if (!o.isPiece) this.#sessions++;
    const isOwn = o.parsed !== undefined && this.#ownCount < this.#o.ownAhead();
    if (isOwn) this.#ownCount++;
    else if (o.parsed !== undefined) {
      this.#heldBytes -= o.bytes;
      o.parsed = undefined;
    }
    this.#pending.push([session, o.items, isOwn, o.isPiece]);
    this.#pendingOwn.push(isOwn ? o : undefined);
    if (isOwn) this.#pendingOwnCount++;
  }

  async #handOver(): Promise<void> {
    const items = this.#pending;
    const own = this.#pendingOwn;
    this.#pending = [];
    this.#pendingOwn = [];
    this.#pendingOwnCount = 0;
    const c = this.#o.coordinator;
    if (c.loadSessions === undefined) throw new DoppelError('DOPPEL_INTERNAL', `${c.display}: this run cannot take sessions as they end`);
    const answer = await c.loadSessions(items);
    this.#waiting = answer.waiting;
    for (let k = 0; k < items.length; k++) {
      const o = own[k];
      if (o === undefined) continue;
      const slot = answer.slots[k] as number;
      const [session, , , isPiece] = items[k] as LoadedSession;
      // A piece waiting for its session's earlier slot is leased later, with its lines.
      if (slot === -1) {
        this.#ownCount--;
        this.#heldBytes -= o.bytes;
        continue;
      }
      this.#own.push({ slot, session, exchanges: o.parsed as HttpExchange[], bytes: o.bytes, isPiece });
    }
    if (this.#own.length > this.#ownAt) this.#wakePlayer?.();
  }

  /** Waits while the loader has its own sessions in hand and the others theirs. */
  async #pace(signal: AbortSignal): Promise<void> {
    while (!signal.aborted && this.#ownCount >= this.#o.ownAhead() && this.#waiting >= SHARED_AHEAD) {
      await sleepUnlessWoken(PAUSE_MS, (wake) => (this.#wakeReader = wake));
      this.#wakeReader = undefined;
      // What the others leased meanwhile: an empty hand-over only asks.
      if (this.#ownCount >= this.#o.ownAhead()) await this.#handOver();
    }
  }

  /** The loader's own sessions ready to play, up to `max`; each taken once. */
  takeOwn(max: number): OwnSession[] {
    const out: OwnSession[] = [];
    const own = this.#own;
    const end = Math.min(own.length, this.#ownAt + max);
    for (let i = this.#ownAt; i < end; i++) {
      const s = own[i] as OwnSession;
      // Let go of it here: the queue is rarely empty when asked, and its head would hold every parsed session.
      own[i] = undefined;
      this.#ownCount--;
      this.#heldBytes -= s.bytes;
      out.push(s);
    }
    this.#ownAt = end;
    if (this.#ownAt === own.length || this.#ownAt >= OWN_COMPACT) {
      this.#own = own.slice(this.#ownAt);
      this.#ownAt = 0;
    }
    if (out.length > 0) this.#wakeReader?.();
    return out;
  }

  /** Resolves once an own session is ready, the load is done, or `ms` passed. */
  async ready(ms: number): Promise<void> {
    if (this.#own.length > this.#ownAt || this.#isDone) return;
    await sleepUnlessWoken(ms, (wake) => (this.#wakePlayer = wake));
    this.#wakePlayer = undefined;
  }
}
