/**
 * The in-process side of `doppel replay --workers N`: the parent process
 * holds the run (sessions, leases, partials, report lines) and its worker
 * processes reach it over the IPC channel (ipc-coordinator.ts). The protocol
 * is the Redis one's, with the parent's clock for leases and heartbeats; a
 * worker process that exits has its leases released at once.
 *
 * The loader hands sessions over whole as it finds them ended (loadSessions),
 * and they can be leased at once: nobody waits for the whole traffic to be
 * read, and the run holds only what is not yet acknowledged. Sessions are
 * slots in the order they were handed over, leased in grants: runs of slots
 * per lease call, renewed by the worker's heartbeat and acknowledged as
 * ranges. Leasing, renewing and acknowledging session by session cost the
 * parent about 10 µs of CPU a request (a map entry and a named lease each way
 * over the channel), as much as a fifth of what a worker spends sending and
 * judging it.
 *
 * A session that comes back after the loader found it ended is a piece of it:
 * it waits until the slot before it is acknowledged, so a session's requests
 * keep their order, and it goes to the worker that played the session so far
 * while that one lives, so the values captured there carry on.
 */
import { RecentMap } from '../../core/recent-map.js';
import type { CommitLines, LoadAnswer, LoadedSession, SessionLease, WorkerPartial } from './types.js';

/** Slots leased together to one worker; a lost worker's grant is split when handed on. */
interface Grant {
  worker: string;
  /** slots not yet acknowledged */
  left: number;
  renewedAt: number;
  isResent: boolean;
}

/**
 * One lease call's sessions as they travel: consecutive slots from `from`, or the listed `slots`
 * (where they are not consecutive: sessions a lost worker held, handed on, or fresh ones around
 * the loader's own).
 */
export interface LeaseBlock {
  from: number;
  slots?: number[];
  sessions: string[];
  lines: string[][];
  isResent: boolean;
  /** positions in this block of pieces of sessions begun in an earlier slot */
  pieces?: number[];
}

export interface LeaseGrant {
  blocks: LeaseBlock[];
  isDone: boolean;
  /** nothing may be left, but the loader is still reading: ask again soon */
  isLoading?: boolean;
  /** the loader was lost before it read the whole traffic: the run cannot finish */
  isLoadLost?: boolean;
  /** why, when the loader said */
  loadError?: string;
}

/** The sessions of a grant as the shard takes them: the entry is the slot. */
export function leasesOf(blocks: readonly LeaseBlock[]): SessionLease[] {
  const out: SessionLease[] = [];
  for (const b of blocks) {
    for (let k = 0; k < b.sessions.length; k++) {
      const slot = b.slots === undefined ? b.from + k : (b.slots[k] as number);
      const lease: SessionLease = { entry: String(slot), session: b.sessions[k] as string, lines: b.lines[k] ?? [], isResent: b.isResent };
      out.push(lease);
    }
    for (const k of b.pieces ?? []) (out[out.length - b.sessions.length + k] as SessionLease).isPiece = true;
  }
  return out;
}

/** Acknowledged slots as [first, count] pairs, flattened: sessions mostly finish in lease order. */
export function slotRanges(entries: readonly string[]): number[] {
  const slots = entries.map(Number).sort((a, b) => a - b);
  const out: number[] = [];
  for (let i = 0; i < slots.length; ) {
    const first = slots[i] as number;
    let n = 1;
    while (i + n < slots.length && slots[i + n] === first + n) n++;
    out.push(first, n);
    i += n;
  }
  return out;
}

export interface MemoryRunOptions {
  claimTimeoutMs: number;
  now?: () => number;
  /** the local workers the run was started for (`--workers N`); 1: its one worker plays alone */
  workers?: number;
}

/** One call of a worker, as it travels over IPC. */
export interface RunCall {
  worker: string;
  method: RunMethod;
  args: unknown[];
}

export type RunMethod = 'join' | 'renew' | 'claimLoad' | 'loadSessions' | 'loadFailed' | 'loadDone' | 'next' | 'liveWorkers' | 'commit' | 'leave' | 'finish' | 'partials' | 'lines';

/** Leased slots at the head of the fresh queue, let go of in one splice once this many. */
const FRESH_COMPACT = 4096;
/** Sessions whose last player is remembered, for a piece of one that comes later. */
const PLAYER_MEMORY = 10_000;

export class MemoryRun {
  readonly #o: MemoryRunOptions;
  readonly #now: () => number;
  /** slot -> session id, in the order the loader handed them over ('' once acknowledged) */
  readonly #sessions: string[] = [];
  /** slot -> exchange lines; let go once acknowledged */
  readonly #linesOf: Array<string[] | undefined> = [];
  /** slots that continue a session begun in an earlier slot */
  readonly #pieces = new Set<number>();
  /** slots nobody holds yet, in order; leased from `#freshAt` on */
  #fresh: number[] = [];
  #freshAt = 0;
  /** session -> its latest slot not yet acknowledged: a later piece waits for it */
  readonly #unackedOf = new Map<string, number>();
  /** session -> the lines of a piece waiting for the session's unacknowledged slot */
  readonly #parked = new Map<string, string[]>();
  /** worker -> pieces of sessions it played before, leased to it first */
  readonly #affine = new Map<string, number[]>();
  /** session -> the worker that acknowledged its latest slot (the last PLAYER_MEMORY sessions) */
  readonly #playerOf = new RecentMap<string, string>(PLAYER_MEMORY);
  #loader: string | undefined;
  /** when the loader last handed sessions over or asked (its own heartbeat: its worker may fail while it reads on) */
  #loaderSeenAt = 0;
  /** why the loader stopped before it read the whole traffic */
  #loadError: string | undefined;
  #isLoaded = false;
  readonly #grants = new Map<number, Grant>();
  #grantIds = 0;
  /** slot -> the grant holding it (0: none, or acknowledged) */
  #grantOf = new Uint32Array(1024);
  readonly #alive = new Map<string, number>();
  readonly #finished = new Set<string>();
  #reporter: string | undefined;
  readonly #partials = new Map<string, WorkerPartial>();
  readonly #reportLines: CommitLines = { diffs: [], results: [] };
  /** the worker that answered true to finish(), for the parent's exit code */
  reporter(): string | undefined {
    return this.#reporter;
  }

  constructor(opts: MemoryRunOptions) {
    this.#o = opts;
    this.#now = opts.now ?? (() => performance.now());
  }

  /** Started for one worker: no other can join, so there is nothing to hand out. */
  get isSole(): boolean {
    return this.#o.workers === 1;
  }

  #ttl(): number {
    return this.#o.claimTimeoutMs / 2;
  }

  join(worker: string): void {
    this.#alive.set(worker, this.#now() + this.#ttl());
  }

  /** The worker's heartbeat: it is live, and every grant it holds is renewed. */
  renew(worker: string): number {
    this.join(worker);
    const now = this.#now();
    for (const g of this.#grants.values()) if (g.worker === worker) g.renewedAt = now;
    return this.liveWorkers();
  }

  /** The worker process exited: it is not live, and its leases go to the others at once. */
  lost(worker: string): void {
    this.#alive.delete(worker);
    for (const g of this.#grants.values()) if (g.worker === worker) g.renewedAt = Number.NEGATIVE_INFINITY;
  }

  claimLoad(worker: string): boolean {
    if (this.#loader !== undefined) return false;
    this.#loader = worker;
    this.#loaderSeenAt = this.#now();
    return true;
  }

  /**
   * Whole sessions from the loader, leasable at once. The loader's own (`isOwn`: it holds them
   * parsed and plays them next) are granted to it here; their lines stay, for another worker if
   * it is lost. A piece whose session still has a slot unacknowledged waits for it (slot -1).
   */
  loadSessions(worker: string, items: readonly LoadedSession[]): LoadAnswer {
    this.#loaderSeenAt = this.#now();
    const slots: number[] = [];
    let own: number[] | undefined;
    for (const [session, lines, isOwn, isPiece] of items) {
      if (this.#unackedOf.has(session)) {
        const waiting = this.#parked.get(session);
        if (waiting === undefined) this.#parked.set(session, [...lines]);
        else for (const l of lines) waiting.push(l);
        slots.push(-1);
        continue;
      }
      const slot = this.#addSlot(session, lines, isPiece);
      slots.push(slot);
      if (isOwn) (own ??= []).push(slot);
      else this.#queue(slot, isPiece ? this.#playerOf.get(session) : undefined);
    }
    if (own !== undefined) {
      const id = ++this.#grantIds;
      this.#grants.set(id, { worker, left: own.length, renewedAt: this.#now(), isResent: false });
      for (const s of own) this.#grantOf[s] = id;
    }
    return { slots, waiting: this.#fresh.length - this.#freshAt };
  }

  /** A leasable slot: for `player` first while it lives, else for anyone. */
  #queue(slot: number, player: string | undefined): void {
    if (player === undefined || !this.#alive.has(player)) {
      this.#fresh.push(slot);
      return;
    }
    const mine = this.#affine.get(player);
    if (mine === undefined) this.#affine.set(player, [slot]);
    else mine.push(slot);
  }

  #addSlot(session: string, lines: string[], isPiece: boolean): number {
    const slot = this.#sessions.length;
    this.#sessions.push(session);
    this.#linesOf.push(lines);
    if (isPiece) this.#pieces.add(slot);
    this.#unackedOf.set(session, slot);
    if (slot >= this.#grantOf.length) {
      const grown = new Uint32Array(this.#grantOf.length * 2);
      grown.set(this.#grantOf);
      this.#grantOf = grown;
    }
    return slot;
  }

  /** The loader failed before it read the whole traffic: the run cannot finish. */
  loadFailed(_worker: string, reason: string): void {
    this.#loadError = reason;
  }

  /** The loader has read the whole traffic: once every slot is acknowledged, the run is done. */
  loadDone(_worker: string): void {
    this.#isLoaded = true;
  }

  /**
   * 'loaded', 'waiting', or 'lost' when the loading worker is gone and its loader has not been
   * heard from within the claim timeout (a loader reading on in the process that holds the run
   * after its worker failed keeps handing sessions over).
   */
  #loadState(): 'loaded' | 'waiting' | 'lost' {
    if (this.#isLoaded) return 'loaded';
    if (this.#loadError !== undefined) return 'lost';
    if (this.#loader !== undefined && !this.#alive.has(this.#loader) && this.#now() - this.#loaderSeenAt > this.#o.claimTimeoutMs) return 'lost';
    return 'waiting';
  }

  /**
   * Up to `max` sessions, or up to `ahead` while so many are left that a grant that large is
   * under half of this worker's fair share: fewer calls (each an IPC round trip) without one
   * worker holding the tail of the run while the others wait. Fresh sessions come first, in the
   * order they were loaded; then those of grants not renewed within the claim timeout.
   */
  next(worker: string, max: number, ahead = max): LeaseGrant {
    const now = this.#now();
    if (this.#affine.size > 0) {
      const mine = this.#affine.get(worker);
      if (mine !== undefined) {
        this.#affine.delete(worker);
        return { blocks: [this.#grant(worker, mine, now)], isDone: false };
      }
      // Pieces for a worker no longer live: anyone's now.
      for (const [w, slots] of this.#affine) {
        if (this.#isLive(w, now)) continue;
        this.#affine.delete(w);
        for (const slot of slots) this.#fresh.push(slot);
      }
    }
    const left = this.#fresh.length - this.#freshAt;
    const fair = Math.floor(left / (2 * this.liveWorkers()));
    const count = Math.min(Math.max(max, Math.min(ahead, fair)), left);
    if (count > 0) {
      const slots = this.#fresh.slice(this.#freshAt, this.#freshAt + count);
      this.#freshAt += count;
      if (this.#freshAt >= FRESH_COMPACT) {
        this.#fresh = this.#fresh.slice(this.#freshAt);
        this.#freshAt = 0;
      }
      return { blocks: [this.#grant(worker, slots, now)], isDone: false };
    }
    const blocks: LeaseBlock[] = [];
    let taken = 0;
    for (const [id, g] of this.#grants) {
      if (taken >= max) break;
      if (now - g.renewedAt <= this.#o.claimTimeoutMs) continue;
      const block = this.#handOn(id, g, worker, max - taken, now);
      taken += block.sessions.length;
      blocks.push(block);
    }
    if (taken > 0 || this.#isLoaded) return { blocks, isDone: taken === 0 && this.#grants.size === 0 && this.#parked.size === 0 && this.#affine.size === 0 };
    if (this.#loadState() !== 'lost') return { blocks, isDone: false, isLoading: true };
    return { blocks, isDone: false, isLoading: true, isLoadLost: true, ...(this.#loadError === undefined ? {} : { loadError: this.#loadError }) };
  }

  /** Fresh slots granted to `worker`, as they travel. */
  #grant(worker: string, slots: number[], now: number): LeaseBlock {
    const id = ++this.#grantIds;
    this.#grants.set(id, { worker, left: slots.length, renewedAt: now, isResent: false });
    for (const s of slots) this.#grantOf[s] = id;
    return this.#block(slots, false);
  }

  #isLive(worker: string, now: number): boolean {
    const expiry = this.#alive.get(worker);
    return expiry !== undefined && expiry >= now;
  }

  /** The sessions of these slots as they travel. */
  #block(slots: readonly number[], isResent: boolean): LeaseBlock {
    const first = slots[0] ?? 0;
    const block: LeaseBlock = {
      from: first,
      sessions: slots.map((s) => this.#sessions[s] as string),
      lines: slots.map((s) => this.#linesOf[s] ?? []),
      isResent,
    };
    if (slots.length > 0 && (slots[slots.length - 1] as number) - first !== slots.length - 1) block.slots = [...slots];
    if (this.#pieces.size > 0) {
      const pieces: number[] = [];
      for (let k = 0; k < slots.length; k++) if (this.#pieces.has(slots[k] as number)) pieces.push(k);
      if (pieces.length > 0) block.pieces = pieces;
    }
    return block;
  }

  /** Up to `max` unacknowledged slots of a stale grant, re-sent to `worker` as a grant of its own. */
  #handOn(id: number, g: Grant, worker: string, max: number, now: number): LeaseBlock {
    const slots: number[] = [];
    const grantOf = this.#grantOf;
    const end = this.#sessions.length;
    for (let s = grantOf.indexOf(id); s !== -1 && s < end && slots.length < Math.min(max, g.left); s = grantOf.indexOf(id, s + 1)) slots.push(s);
    if (slots.length === g.left) {
      g.worker = worker;
      g.renewedAt = now;
      g.isResent = true;
    } else {
      const into = ++this.#grantIds;
      g.left -= slots.length;
      this.#grants.set(into, { worker, left: slots.length, renewedAt: now, isResent: true });
      for (const s of slots) grantOf[s] = into;
    }
    return this.#block(slots, true);
  }

  liveWorkers(): number {
    const now = this.#now();
    let n = 0;
    for (const expiry of this.#alive.values()) if (expiry >= now) n++;
    return Math.max(1, n);
  }

  /** `finished`: the worker's finished slots as [first, count] pairs (slotRanges). */
  commit(worker: string, partial: WorkerPartial, finished: readonly number[], lines: CommitLines): void {
    this.#partials.set(worker, partial);
    for (const l of lines.diffs) this.#reportLines.diffs.push(l);
    for (const l of lines.results) this.#reportLines.results.push(l);
    const grantOf = this.#grantOf;
    let released: string[] | undefined;
    for (let i = 0; i + 1 < finished.length; i += 2) {
      const first = finished[i] as number;
      const end = Math.min(first + (finished[i + 1] as number), this.#sessions.length);
      for (let s = Math.max(0, first); s < end; s++) {
        const id = grantOf[s] as number;
        // Acknowledged already (a worker thought lost finished it too): counted once here.
        if (id === 0) continue;
        grantOf[s] = 0;
        this.#linesOf[s] = undefined;
        this.#pieces.delete(s);
        const session = this.#sessions[s] as string;
        this.#sessions[s] = '';
        this.#playerOf.set(session, worker);
        if (this.#unackedOf.get(session) === s) {
          this.#unackedOf.delete(session);
          if (this.#parked.has(session)) (released ??= []).push(session);
        }
        const g = this.#grants.get(id);
        if (g !== undefined && --g.left === 0) this.#grants.delete(id);
      }
    }
    // The pieces that waited for these slots: leasable now, by this worker first.
    for (const session of released ?? []) {
      const waiting = this.#parked.get(session) as string[];
      this.#parked.delete(session);
      this.#queue(this.#addSlot(session, waiting, true), worker);
    }
  }
  leave(worker: string): void {
    this.#alive.delete(worker);
  }

  /** 0: others still working, 1: this worker reports, 2: another did */
  finish(worker: string): number {
    this.#finished.add(worker);
    this.#alive.delete(worker);
    const now = this.#now();
    for (const [w, expiry] of this.#alive) if (expiry >= now && !this.#finished.has(w)) return 0;
    if (this.#reporter !== undefined) return 2;
    this.#reporter = worker;
    return 1;
  }

  partials(): WorkerPartial[] {
    return [...this.#partials.keys()].sort().map((w) => this.#partials.get(w) as WorkerPartial);
  }

  lines(_worker: string, kind: keyof CommitLines, from: number, count: number): string[] {
    return this.#reportLines[kind].slice(from, from + count);
  }

  /** Dispatches one IPC call (the worker id first, as every method takes it). */
  call(c: RunCall): unknown {
    switch (c.method) {
      case 'join':
        return this.join(c.worker);
      case 'renew':
        return this.renew(c.worker);
      case 'claimLoad':
        return this.claimLoad(c.worker);
      case 'loadSessions':
        return this.loadSessions(c.worker, c.args[0] as LoadedSession[]);
      case 'loadFailed':
        return this.loadFailed(c.worker, c.args[0] as string);
      case 'loadDone':
        return this.loadDone(c.worker);
      case 'next':
        return this.next(c.worker, c.args[0] as number, c.args[1] as number | undefined);
      case 'liveWorkers':
        return this.liveWorkers();
      case 'commit':
        return this.commit(c.worker, c.args[0] as WorkerPartial, c.args[1] as number[], c.args[2] as CommitLines);
      case 'leave':
        return this.leave(c.worker);
      case 'finish':
        return this.finish(c.worker);
      case 'partials':
        return this.partials();
      case 'lines':
        return this.lines(c.worker, c.args[0] as keyof CommitLines, c.args[1] as number, c.args[2] as number);
      default: {
        const never: never = c.method;
        throw new Error(`unknown run call ${String(never)}`);
      }
    }
  }
}
