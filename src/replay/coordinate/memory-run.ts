/**
 * The in-process side of `doppel replay --workers N`: the parent process
 * holds the run (sessions, leases, partials, report lines) and its worker
 * processes reach it over the IPC channel (ipc-coordinator.ts). The protocol
 * is the Redis one's, with the parent's clock for leases and heartbeats; a
 * worker process that exits has its leases released at once.
 */
import type { CommitLines, SessionLease, WorkerPartial } from './types.js';

interface Lease {
  worker: string;
  session: string;
  renewedAt: number;
  isResent: boolean;
}

export interface MemoryRunOptions {
  claimTimeoutMs: number;
  now?: () => number;
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
  /** session id -> exchange lines, in first-seen order */
  readonly #sessions = new Map<string, string[]>();
  #order: string[] = [];
  #next = 0;
  #loader: string | undefined;
  /** sessions the loader plays from its own copy when it leases them fresh */
  #kept: ReadonlySet<string> = new Set();
  #isLoaded = false;
  readonly #leases = new Map<string, Lease>();
  readonly #alive = new Map<string, number>();
  readonly #finished = new Set<string>();
  #reporter: string | undefined;
  readonly #partials = new Map<string, WorkerPartial>();
  readonly #lines: CommitLines = { diffs: [], results: [] };
  /** the worker that answered true to finish(), for the parent's exit code */
  reporter(): string | undefined {
    return this.#reporter;
  }

  constructor(opts: MemoryRunOptions) {
    this.#o = opts;
    this.#now = opts.now ?? (() => performance.now());
  }

  #ttl(): number {
    return this.#o.claimTimeoutMs / 2;
  }

  join(worker: string): void {
    this.#alive.set(worker, this.#now() + this.#ttl());
  }

  renew(worker: string, held: string[]): number {
    this.join(worker);
    const now = this.#now();
    for (const entry of held) {
      const l = this.#leases.get(entry);
      if (l !== undefined && l.worker === worker) l.renewedAt = now;
    }
    return this.liveWorkers();
  }

  /** The worker process exited: it is not live, and its leases go to the others at once. */
  lost(worker: string): void {
    this.#alive.delete(worker);
    for (const l of this.#leases.values()) if (l.worker === worker) l.renewedAt = Number.NEGATIVE_INFINITY;
  }

  claimLoad(worker: string): boolean {
    if (this.#loader !== undefined) return false;
    this.#loader = worker;
    return true;
  }

  loadBatch(_worker: string, items: Array<[string, string]>): number {
    let added = 0;
    for (const [session, line] of items) {
      const lines = this.#sessions.get(session);
      if (lines !== undefined) lines.push(line);
      else {
        this.#sessions.set(session, [line]);
        this.#order.push(session);
        added++;
      }
    }
    return added;
  }

  loadDone(_worker: string, kept: readonly string[] = []): void {
    this.#kept = new Set(kept);
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
   * worker holding the tail of the run while the others wait.
   */
  next(worker: string, max: number, ahead = max): { leases: SessionLease[]; isDone: boolean } {
    const now = this.#now();
    const out: SessionLease[] = [];
    const fair = Math.floor((this.#order.length - this.#next) / (2 * this.liveWorkers()));
    const grant = Math.max(max, Math.min(ahead, fair));
    while (out.length < grant && this.#next < this.#order.length) {
      const session = this.#order[this.#next] as string;
      const entry = String(this.#next++);
      this.#leases.set(entry, { worker, session, renewedAt: now, isResent: false });
      if (worker === this.#loader && this.#kept.has(session)) out.push({ entry, session, lines: [], isResent: false, isLocal: true });
      else out.push({ entry, session, lines: this.#sessions.get(session) ?? [], isResent: false });
    }
    if (out.length > 0) return { leases: out, isDone: false };
    for (const [entry, l] of this.#leases) {
      if (out.length >= max) break;
      if (now - l.renewedAt <= this.#o.claimTimeoutMs) continue;
      l.worker = worker;
      l.renewedAt = now;
      l.isResent = true;
      out.push({ entry, session: l.session, lines: this.#sessions.get(l.session) ?? [], isResent: true });
    }
    return { leases: out, isDone: out.length === 0 && this.#leases.size === 0 };
  }

  liveWorkers(): number {
    const now = this.#now();
    let n = 0;
    for (const expiry of this.#alive.values()) if (expiry >= now) n++;
    return Math.max(1, n);
  }

  /** `finished`: the entries of the worker's finished leases; the run knows their sessions. */
  commit(worker: string, partial: WorkerPartial, finished: readonly string[], lines: CommitLines): void {
    this.#partials.set(worker, partial);
    this.#lines.diffs.push(...lines.diffs);
    this.#lines.results.push(...lines.results);
    for (const entry of finished) {
      const l = this.#leases.get(entry);
      if (l === undefined) continue;
      this.#leases.delete(entry);
      this.#sessions.delete(l.session);
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
    return this.#lines[kind].slice(from, from + count);
  }

  /** Dispatches one IPC call (the worker id first, as every method takes it). */
  call(c: RunCall): unknown {
    switch (c.method) {
      case 'join':
        return this.join(c.worker);
      case 'renew':
        return this.renew(c.worker, c.args[0] as string[]);
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
        return this.commit(c.worker, c.args[0] as WorkerPartial, c.args[1] as string[], c.args[2] as CommitLines);
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
