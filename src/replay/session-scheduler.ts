/**
 * Streams exchanges into sessions and plays them: each session's requests in
 * order, different sessions in parallel. Memory stays bounded: the reader
 * runs at most `window` requests ahead of the workers (a look-ahead window),
 * and a session leaves memory when its buffered requests are played; the
 * little it must remember (captured values, timing) goes to a bounded LRU.
 *
 * Trade-off of the window: a session whose requests are spread over more
 * than `window` requests of other traffic (less the reader's refill slack,
 * at most 64: see refillAt) is played in pieces; its order is
 * kept (a piece starts only after the previous one finished) but the slot it
 * held is given to other sessions between pieces. The default window grows
 * when that happens (LookAheadWindow, onPiece).
 *
 * Timing. Recorded mode: the stream's timeline is rebuilt with every gap
 * between consecutive recorded start times divided by the time scale and
 * capped at max_delay; a request is due at run start + its offset on that
 * timeline, never before the previous request of its session answered, and
 * never sooner after the previous send of its session than their own recorded
 * gap (scaled and capped) allows.
 * Rate mode (open model): request i is due at i / rate whatever the
 * responses do; the shortfall is reported.
 */
import { LRUCache } from 'lru-cache';
import { RecentMap } from '../core/recent-map.js';
import type { ExchangeBase, HttpExchange } from '../core/exchange.js';
import type { Clock } from '../core/clock.js';
import { DueTimer } from './due-timer.js';
import { LagHistogram } from './lag-histogram.js';
import { SessionVars } from './runtime-vars.js';

export type Timing = { mode: 'recorded'; timeScale: number; maxDelayMs: number } | { mode: 'rate'; rps: number };

/** Only the envelope is read (session, id, startedAt): HTTP and gRPC replay share the schedule. */
export interface ScheduledRequest<E extends ExchangeBase = HttpExchange> {
  exchange: E;
  /** 0-based position in the replayed stream */
  index: number;
  /** due time in ms after run start */
  dueMs: number;
  /** recorded start (epoch ms), NaN when the exchange has none */
  recordedAt: number;
}

export interface SessionContext {
  readonly id: string;
  readonly vars: SessionVars;
}

/**
 * This process's share of a run spread over several workers: how many sessions it plays at once
 * and, in rate mode, its requests per second. Changed while the run goes on when workers join or
 * are lost; the rate change holds from the next request read, the concurrency from the next
 * session taken.
 */
export class ScheduleShare {
  #workers: number;
  #rps: number | undefined;
  #onChange: (() => void) | undefined;

  constructor(workers: number, rps: number | undefined) {
    this.#workers = Math.max(1, workers);
    this.#rps = rps;
  }

  get workers(): number {
    return this.#workers;
  }

  get rps(): number | undefined {
    return this.#rps;
  }

  set(workers: number, rps: number | undefined): void {
    this.#workers = Math.max(1, workers);
    this.#rps = rps;
    this.#onChange?.();
  }

  /** the scheduler's hook: one listener */
  onChange(fn: (() => void) | undefined): void {
    this.#onChange = fn;
  }
}

export interface SchedulerOptions<E extends ExchangeBase = HttpExchange> {
  /** the exchanges in stream order: one by one, or in batches where the source has them so (a lease of sessions) */
  source: AsyncIterable<E> | { batches: AsyncIterable<readonly E[]> };
  /** the session an exchange replays in; default its recorded session (else its own id) */
  sessionOf?: (ex: E) => string;
  workers: number;
  timing: Timing;
  /** a share that changes during the run: its workers and rate replace `workers` and the timing's rps */
  share?: ScheduleShare;
  /** requests buffered ahead of the workers at most */
  window: number | (() => number);
  /**
   * Told when a request arrives for a session whose earlier requests were all played already, so
   * it is played in a piece of its own: the window was too short for that session (see
   * LookAheadWindow). Only sessions among the last `sessionMemory` finished are recognised.
   */
  onPiece?: () => void;
  /** sessions whose captured values are remembered between pieces */
  sessionMemory: number;
  clock: Clock;
  /** stop sending; requests in flight finish or are cancelled by `play` */
  signal: AbortSignal;
  /** sends and judges one request; must not throw */
  play(req: ScheduledRequest<E>, session: SessionContext, lagMs: number): Promise<void>;
  /**
   * Told, after `play` has settled, of each request played while the run was not stopped. A
   * callback, not a wrapper around `play`: a second async frame per request cost about 400 bytes.
   */
  afterPlay?(req: ScheduledRequest<E>, session: SessionContext): void;
}

export interface SchedulerStats {
  /** requests read from the stream and accepted */
  read: number;
  /** requests whose play() started */
  started: number;
  /** |actual start - due| */
  lag: LagHistogram;
  /** most requests buffered at once */
  maxBuffered: number;
  /** ms from the first due time to the end of the last play() */
  elapsedMs: number;
  /** ms of the schedule itself (due time of the last request read) */
  scheduledSpanMs: number;
}

interface SessionEntry<E extends ExchangeBase> extends SessionContext {
  queue: ScheduledRequest<E>[];
  /** monotonic send time and recorded start (epoch ms) of the session's previous request */
  lastSentAt: number | undefined;
  lastRecordedAt: number | undefined;
  isActive: boolean;
  isReady: boolean;
}

/**
 * The default look-ahead: small while sessions come out whole, doubled (up to `max`) each time a
 * session is seen played in pieces. Every buffered request holds its parsed recorded exchange, and
 * one held across a few thousand requests of allocation outlives two scavenges and is promoted:
 * with 10,000 buffered, all of them were (70 MB over 50,000 one-request sessions, a tenth of the
 * process's CPU in GC). Traffic whose sessions are spread out grows the window to what keeps them
 * whole, as a fixed 10,000 did; traffic that does not need it never pays for it.
 */
export class LookAheadWindow {
  #size: number;
  readonly #max: number;

  constructor(from: number, max: number) {
    this.#max = Math.max(1, max);
    this.#size = Math.min(Math.max(1, from), this.#max);
  }

  get size(): number {
    return this.#size;
  }

  /** A session was split: read further ahead from now on. */
  grow(): void {
    this.#size = Math.min(this.#max, this.#size * 2);
  }
}

/** The look-ahead a run grows to at most when `replay.window` is not set. */
const MAX_WINDOW = 10_000;
/** ... and starts at, or four requests per sender if that is more. */
const FIRST_WINDOW = 256;

/**
 * The scheduler's window for a run: a configured `replay.window` as given, else a LookAheadWindow
 * that grows when sessions come out in pieces (`onGrow` is told its new size).
 */
export function lookAheadOf(configured: number | undefined, workers: number, onGrow?: (size: number) => void): Pick<SchedulerOptions, 'window' | 'onPiece'> {
  if (configured !== undefined) return { window: configured };
  const w = new LookAheadWindow(Math.max(FIRST_WINDOW, workers * 4), MAX_WINDOW);
  return {
    window: () => w.size,
    onPiece: () => {
      const was = w.size;
      w.grow();
      if (w.size !== was) onGrow?.(w.size);
    },
  };
}

/** A FIFO that does not shift arrays on every take. */
class Fifo<T> {
  #items: T[] = [];
  #head = 0;
  get size(): number {
    return this.#items.length - this.#head;
  }
  push(v: T): void {
    this.#items.push(v);
  }
  take(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const v = this.#items[this.#head] as T;
    this.#items[this.#head] = undefined as T;
    this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return v;
  }
}

/**
 * No setImmediate polling for early timer wakes: measured at 1,000-2,000 rps, polling the last
 * millisecond tripled CPU per request, while send-time error stayed bound by event-loop load.
 */
const SPIN_MS = 0;
/** longest the reader runs before it lets timers and I/O in */
const READER_SLICE_MS = 0.5;

/**
 * How full the window is when a waiting reader is woken: once a few requests have been taken, not
 * after every one (a wake-up is a promise and a turn of the loop). At most 64 short, so the
 * look-ahead that keeps sessions whole hardly shrinks for a large window.
 */
function refillAt(window: number): number {
  return window - Math.max(1, Math.min(64, window >> 2));
}

export async function scheduleSessions<E extends ExchangeBase = HttpExchange>(opts: SchedulerOptions<E>): Promise<SchedulerStats> {
  const { clock, signal } = opts;
  const windowOf = typeof opts.window === 'number' ? ((w: number) => () => w)(opts.window) : opts.window;
  const workersWanted = () => opts.share?.workers ?? Math.max(1, opts.workers);
  const sessions = new Map<string, SessionEntry<E>>();
  const memory = new LRUCache<string, { vars: SessionVars; lastSentAt: number | undefined; lastRecordedAt: number | undefined }>({
    max: Math.max(1, opts.sessionMemory),
  });
  const ready = new Fifo<SessionEntry<E>>();
  // The ids of the last sessions finished, to recognise one that comes back as a piece.
  const finished = opts.onPiece === undefined ? undefined : new RecentMap<string, true>(Math.max(1, opts.sessionMemory));
  const lag = new LagHistogram();
  let buffered = 0;
  let maxBuffered = 0;
  let isReaderDone = false;
  let readerError: Error | undefined;
  let read = 0;
  let started = 0;
  let lastDue = 0;
  let workWaiters: Array<() => void> = [];
  let spaceWaiter: (() => void) | undefined;
  const t0 = clock.monotonic();

  const wakeWorkers = (all: boolean) => {
    if (workWaiters.length === 0) return;
    if (all) {
      const ws = workWaiters;
      workWaiters = [];
      for (const w of ws) w();
    } else {
      workWaiters.shift()?.();
    }
  };
  const timer = new DueTimer(() => clock.monotonic(), SPIN_MS);
  const onAbort = () => {
    timer.cancelAll();
    wakeWorkers(true);
    spaceWaiter?.();
  };
  signal.addEventListener('abort', onAbort, { once: true });

  // Recorded timeline state.
  let prevRecorded: number | undefined;
  let offset = 0;
  // Rate mode: a new rate holds from the index where it was seen, so no request moves back in time.
  let rateFrom = 0;
  let rateFromDue = 0;
  let rps = opts.timing.mode === 'rate' ? (opts.share?.rps ?? opts.timing.rps) : 0;
  const dueOf = (t: number, index: number): number => {
    if (opts.timing.mode === 'rate') {
      const now = opts.share?.rps ?? opts.timing.rps;
      if (now !== rps) {
        rateFromDue += ((index - rateFrom) * 1000) / rps;
        rateFrom = index;
        rps = now;
      }
      return rateFromDue + ((index - rateFrom) * 1000) / rps;
    }
    if (!Number.isFinite(t)) return offset;
    if (prevRecorded !== undefined && t > prevRecorded) {
      offset += Math.min((t - prevRecorded) / opts.timing.timeScale, opts.timing.maxDelayMs);
    }
    if (prevRecorded === undefined || t > prevRecorded) prevRecorded = t;
    return offset;
  };

  let sliceStart = clock.monotonic();
  const isSliceOver = (): boolean => (read & 15) === 0 && clock.monotonic() - sliceStart > READER_SLICE_MS;
  /** Takes one exchange into its session; true when the reader must let others in before the next. */
  const accept = (ex: E): boolean => {
    const recordedAt = Date.parse(ex.startedAt);
    const req: ScheduledRequest<E> = { exchange: ex, index: read, dueMs: dueOf(recordedAt, read), recordedAt };
    lastDue = req.dueMs;
    read++;
    const id = opts.sessionOf?.(ex) ?? (ex.session || ex.id);
    let s = sessions.get(id);
    if (s === undefined) {
      if (finished?.has(id) === true) opts.onPiece?.();
      const remembered = memory.get(id);
      s = {
        id,
        vars: remembered?.vars ?? new SessionVars(),
        queue: [],
        isActive: false,
        isReady: false,
        lastSentAt: remembered?.lastSentAt,
        lastRecordedAt: remembered?.lastRecordedAt,
      };
      sessions.set(id, s);
    }
    s.queue.push(req);
    buffered++;
    if (buffered > maxBuffered) maxBuffered = buffered;
    if (!s.isActive && !s.isReady) {
      s.isReady = true;
      ready.push(s);
      wakeWorkers(false);
    }
    return buffered >= windowOf() || isSliceOver();
  };
  const pause = async (): Promise<void> => {
    // A source that never waits on I/O (a synthetic or cached one) would otherwise fill the
    // whole window in microtasks and hold the timers of due requests back.
    if (isSliceOver()) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      sliceStart = clock.monotonic();
    }
    while (buffered >= windowOf() && !signal.aborted) {
      await new Promise<void>((resolve) => (spaceWaiter = resolve));
      spaceWaiter = undefined;
    }
  };
  const reader = (async () => {
    try {
      const source = opts.source;
      if ('batches' in source) {
        outer: for await (const batch of source.batches) {
          for (const ex of batch) {
            if (signal.aborted) break outer;
            if (accept(ex)) await pause();
          }
        }
      } else {
        for await (const ex of source) {
          if (signal.aborted) break;
          if (accept(ex)) await pause();
        }
      }
    } catch (err) {
      readerError = err instanceof Error ? err : new Error(String(err));
    } finally {
      isReaderDone = true;
      wakeWorkers(true);
    }
  })();

  const nextSession = async (): Promise<SessionEntry<E> | undefined> => {
    for (;;) {
      if (signal.aborted) return undefined;
      const s = ready.take();
      if (s !== undefined) return s;
      if (isReaderDone) return undefined;
      await new Promise<void>((resolve) => workWaiters.push(resolve));
    }
  };

  let running = 0;
  const worker = async () => {
    for (;;) {
      // A share that shrank: this loop ends between sessions, never inside one.
      if (running > workersWanted()) {
        running--;
        return;
      }
      // A session already waiting is taken without a promise; nextSession waits for one.
      const s = signal.aborted ? undefined : (ready.take() ?? (await nextSession()));
      if (s === undefined) {
        running--;
        return;
      }
      s.isReady = false;
      s.isActive = true;
      while (s.queue.length > 0 && !signal.aborted) {
        const req = s.queue.shift() as ScheduledRequest<E>;
        buffered--;
        if (spaceWaiter !== undefined && buffered <= refillAt(windowOf())) spaceWaiter();
        let due = t0 + req.dueMs;
        const recordedAt = req.recordedAt;
        if (opts.timing.mode === 'recorded' && s.lastSentAt !== undefined && s.lastRecordedAt !== undefined && Number.isFinite(recordedAt)) {
          // Within a session the gap counts from the previous send, so a late request does not shorten the next gap.
          const gap = Math.min(Math.max(0, recordedAt - s.lastRecordedAt) / opts.timing.timeScale, opts.timing.maxDelayMs);
          due = Math.max(due, s.lastSentAt + gap);
        }
        if (due > clock.monotonic()) {
          await timer.wait(due);
          if (signal.aborted) break;
        }
        const sentAt = clock.monotonic();
        const lagMs = sentAt - due;
        lag.record(lagMs);
        s.lastSentAt = sentAt;
        if (Number.isFinite(recordedAt)) s.lastRecordedAt = recordedAt;
        started++;
        await opts.play(req, s, lagMs);
        if (opts.afterPlay !== undefined && !signal.aborted) opts.afterPlay(req, s);
      }
      s.isActive = false;
      if (s.queue.length > 0) {
        // Stopped mid-session: drop what is left.
        buffered -= s.queue.length;
        s.queue.length = 0;
      }
      sessions.delete(s.id);
      finished?.set(s.id, true);
      // Only sessions that captured something are remembered: a later piece of any other
      // session loses nothing but its gap to the previous piece (the stream timeline still holds).
      if (!s.vars.isEmpty) memory.set(s.id, { vars: s.vars, lastSentAt: s.lastSentAt, lastRecordedAt: s.lastRecordedAt });
    }
  };

  const workers: Array<Promise<void>> = [];
  // Started at the share's size, and again whenever the share grows.
  const grow = () => {
    while (running < workersWanted() && !signal.aborted) {
      running++;
      workers.push(worker());
    }
  };
  grow();
  opts.share?.onChange(grow);
  // Loops added by a grown share join the list while it is awaited.
  for (let i = 0; i < workers.length; i++) await workers[i];
  opts.share?.onChange(undefined);
  signal.removeEventListener('abort', onAbort);
  // Workers ended because of the stop signal: let the reader see it and finish.
  spaceWaiter?.();
  await reader;
  if (readerError !== undefined) throw readerError;
  return { read, started, lag, maxBuffered, elapsedMs: clock.monotonic() - t0, scheduledSpanMs: lastDue };
}
