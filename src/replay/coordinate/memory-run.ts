/**
 * The in-process side of `doppel replay --workers N`: the parent process
 * holds the run (sessions, leases, partials, report lines) and its worker
 * processes reach it over the IPC channel (ipc-coordinator.ts). The protocol
 * is the Redis one's, with the parent's clock for leases and heartbeats; a
 * worker process that exits has its leases released at once.
 *
 * Sessions are slots in load order, and they are leased in grants: a run of
 * consecutive slots per lease call, renewed by the worker's heartbeat and
 * acknowledged as ranges. Leasing, renewing and acknowledging session by
 * session cost the parent about 10 µs of CPU a request (a map entry and a
 * named lease each way over the channel), as much as a fifth of what a
 * worker spends sending and judging it.
 */
import type { CommitLines, SessionLease, WorkerPartial } from './types.js';

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
 * (sessions a lost worker held, handed on). `lines[k]` is null for a session the loader kept.
 */
export interface LeaseBlock {
  from: number;
  slots?: number[];
  sessions: string[];
  lines: Array<string[] | null>;
  isResent: boolean;
}

export interface LeaseGrant {
  blocks: LeaseBlock[];
  isDone: boolean;
}

/** A kept session's lines: none travel, and one shared empty list stands for them. */
const NO_LINES: string[] = [];

/** The sessions of a grant as the shard takes them: the entry is the slot. */
export function leasesOf(blocks: readonly LeaseBlock[]): SessionLease[] {
  const out: SessionLease[] = [];
  for (const b of blocks) {
    for (let k = 0; k < b.sessions.length; k++) {
      const lines = b.lines[k] ?? null;
      const slot = b.slots === undefined ? b.from + k : (b.slots[k] as number);
      const lease: SessionLease = { entry: String(slot), session: b.sessions[k] as string, lines: lines ?? NO_LINES, isResent: b.isResent };
      if (lines === null) lease.isLocal = true;
      out.push(lease);
    }
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

export type RunMethod = 'join' | 'renew' | 'claimLoad' | 'loadBatch' | 'loadDone' | 'loadState' | 'next' | 'liveWorkers' | 'commit' | 'leave' | 'finish' | 'partials' | 'lines';

export class MemoryRun {
  readonly #o: MemoryRunOptions;
  readonly #now: () => number;
  /** while loading: session id -> its slot */
  readonly #slotOf = new Map<string, number>();
  /** slot -> session id, in first-seen order */
  readonly #sessions: string[] = [];
  /** slot -> exchange lines; let go once acknowledged */
  readonly #linesOf: Array<string[] | undefined> = [];
  #next = 0;
  #loader: string | undefined;
  /** sessions the loader plays from its own copy when it leases them fresh */
  #kept: ReadonlySet<string> = new Set();
  #isLoaded = false;
  readonly #grants = new Map<number, Grant>();
  #grantIds = 0;
  /** slot -> the grant holding it (0: none, or acknowledged) */
  #grantOf = new Uint32Array(0);
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
    return true;
  }

  loadBatch(_worker: string, items: Array<[string, string]>): number {
    let added = 0;
    for (const [session, line] of items) {
      const slot = this.#slotOf.get(session);
      if (slot !== undefined) (this.#linesOf[slot] as string[]).push(line);
      else {
        this.#slotOf.set(session, this.#sessions.length);
        this.#sessions.push(session);
        this.#linesOf.push([line]);
        added++;
      }
    }
    return added;
  }

  loadDone(_worker: string, kept: readonly string[] = []): void {
    this.#kept = new Set(kept);
    this.#slotOf.clear();
    this.#grantOf = new Uint32Array(this.#sessions.length);
    this.#isLoaded = true;
  }

  /** 'loaded', 'waiting', or 'lost' when the loading worker is gone */
  loadState(): 'loaded' | 'waiting' | 'lost' {
    if (this.#isLoaded) return 'loaded';
    if (this.#loader !== undefined && !this.#alive.has(this.#loader)) return 'lost';
    return 'waiting';
  }

  /**
   * Up to `max` sessions, or up to `ahead` while so many are left that a grant that large is
   * under half of this worker's fair share: fewer calls (each an IPC round trip) without one
   * worker holding the tail of the run while the others wait. Fresh sessions come first, as one
   * block of consecutive slots; then those of grants not renewed within the claim timeout.
   */
  next(worker: string, max: number, ahead = max): LeaseGrant {
    const now = this.#now();
    const total = this.#sessions.length;
    const fair = Math.floor((total - this.#next) / (2 * this.liveWorkers()));
    const count = Math.min(Math.max(max, Math.min(ahead, fair)), total - this.#next);
    if (count > 0) {
      const id = ++this.#grantIds;
      const from = this.#next;
      this.#next += count;
      this.#grants.set(id, { worker, left: count, renewedAt: now, isResent: false });
      this.#grantOf.fill(id, from, from + count);
      const isLoader = worker === this.#loader;
      const sessions = this.#sessions.slice(from, from + count);
      const lines = sessions.map((s, k) => (isLoader && this.#kept.has(s) ? null : (this.#linesOf[from + k] ?? [])));
      return { blocks: [{ from, sessions, lines, isResent: false }], isDone: false };
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
    return { blocks, isDone: taken === 0 && this.#grants.size === 0 };
  }

  /** Up to `max` unacknowledged slots of a stale grant, re-sent to `worker` as a grant of its own. */
  #handOn(id: number, g: Grant, worker: string, max: number, now: number): LeaseBlock {
    const slots: number[] = [];
    const grantOf = this.#grantOf;
    for (let s = grantOf.indexOf(id); s !== -1 && slots.length < Math.min(max, g.left); s = grantOf.indexOf(id, s + 1)) slots.push(s);
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
    return { from: slots[0] ?? 0, slots, sessions: slots.map((s) => this.#sessions[s] as string), lines: slots.map((s) => this.#linesOf[s] ?? []), isResent: true };
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
    for (let i = 0; i + 1 < finished.length; i += 2) {
      const first = finished[i] as number;
      const end = Math.min(first + (finished[i + 1] as number), grantOf.length);
      for (let s = Math.max(0, first); s < end; s++) {
        const id = grantOf[s] as number;
        // Acknowledged already (a worker thought lost finished it too): counted once here.
        if (id === 0) continue;
        grantOf[s] = 0;
        this.#linesOf[s] = undefined;
        const g = this.#grants.get(id);
        if (g !== undefined && --g.left === 0) this.#grants.delete(id);
      }
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
      case 'loadBatch':
        return this.loadBatch(c.worker, c.args[0] as Array<[string, string]>);
      case 'loadDone':
        return this.loadDone(c.worker, c.args[0] as string[]);
      case 'loadState':
        return this.loadState();
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
