/**
 * One worker's side of a coordinated run. The worker joins; the first to ask
 * loads the traffic as sessions (into Redis whole before any is leased; into
 * a local run as a stream, stream-loader.ts); then sessions are leased a few
 * at a time and their exchanges fed to the session scheduler like any
 * traffic stream.
 *
 * What the judge records for a session is held back until the whole session
 * has been played, then applied to the worker's evaluator and report
 * collector; finished sessions are committed (acknowledged together with the
 * worker's whole mergeable state) every commit interval. So the state in
 * Redis only ever covers acknowledged sessions: a lost worker's unfinished
 * sessions are replayed by another and counted once.
 */
import type { NoiseLearner } from '../../compare/noise.js';
import { DoppelError } from '../../core/errors.js';
import { RecentMap } from '../../core/recent-map.js';
import { isHttpExchange, type HttpExchange } from '../../core/exchange.js';
import type { Logger } from '../../core/logger.js';
import type { GateEvaluator } from '../../gates/gate-evaluator.js';
import type { JudgedRequest } from '../../gates/types.js';
import { createDiffCollector, type DiffCollector } from '../../report/diff-collector.js';
import { createJudgedRecorder, type JudgedRecord } from '../../report/judged-streams.js';
import { decodeExchangeLine, encodeExchange } from '../../store/codec.js';
import type { Exchange } from '../../core/exchange.js';
import { StreamLoader, type OwnSession } from './stream-loader.js';
import { REF_MARK, type CommitLines, type Coordinator, type SessionLease, type WorkerPartial } from './types.js';

const LOAD_BATCH = 500;
/**
 * Encoded bytes of traffic the loading worker keeps as parsed exchanges, to play its own
 * sessions without reading them back and parsing them again. Past it, sessions come back as
 * lines like everyone else's; a session that grows past it is dropped whole from the copy.
 */
const KEPT_MAX_BYTES = 32 * 1024 * 1024;
const COMMIT_EVERY_MS = 200;
/** How often a worker asks again for sessions while the loader of a local run is still reading. */
const LOADING_POLL_MS = 5;
/** Sessions a local run's loader keeps as its own per sender, as a lease call grants ahead (LEASE_AHEAD). */
const OWN_PER_SENDER = 8;
const RESENT_IDS_KEPT = 100;
/** Sessions a streaming worker remembers having played, as the scheduler remembers finished ones. */
const STREAMED_MEMORY = 10_000;

export interface ShardOptions {
  coordinator: Coordinator;
  /** the worker's evaluator: it only ever sees requests of finished sessions */
  evaluator: GateEvaluator;
  noise: NoiseLearner | undefined;
  run: WorkerPartial['run'];
  /** ship diffs.ndjson and results.ndjson lines for the merged report */
  isCollectingLines: boolean;
  maxDecodedBytes: number;
  pollMs: number;
  log: Logger;
  /** where the source read an exchange, when its store can read it back (readRefs) */
  refOf?: (ex: HttpExchange) => { ref: string; bytes: number } | undefined;
  /** the store's ExchangeReader.readRefs, for sessions loaded as references */
  readRefs?: (refs: readonly string[]) => Promise<Exchange[]>;
}

interface SessionBuffer {
  lease: SessionLease;
  left: number;
  judged: JudgedRequest[];
  recorded: Array<Parameters<JudgedRecord>>;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });
}

function cannotLoad(c: Coordinator): DoppelError {
  return new DoppelError('DOPPEL_INTERNAL', `${c.display}: this run can take neither whole traffic nor sessions`);
}

export class ReplayShard {
  readonly #o: ShardOptions;
  readonly collector: DiffCollector = createDiffCollector();
  readonly #record: JudgedRecord;
  #lines: CommitLines = { diffs: [], results: [] };
  #done: SessionLease[] = [];
  readonly #open = new Map<string, SessionBuffer>();
  #sessions = 0;
  #resent = 0;
  readonly #resentIds: string[] = [];
  #commits: Promise<void> = Promise.resolve();
  /** the loader's own copy of the sessions it loaded, each whole, until leased */
  readonly #kept = new Map<string, HttpExchange[]>();
  /**
   * A streaming worker's last sessions with a request played: what its partial counts as its
   * sessions. A set of every id grew with the run and cost 0.8 µs a request; a session seen again
   * after this many others is counted again, as the scheduler takes it for a piece.
   */
  readonly #streamed = new RecentMap<string, true>(STREAMED_MEMORY);
  /** this worker loads a local run as a stream */
  #loader: StreamLoader | undefined;
  #loading: Promise<void> = Promise.resolve();
  #loadError: Error | undefined;
  /** the senders this worker plays with (the scheduler's share), once it plays */
  #senders: () => number = () => 1;
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: ShardOptions) {
    this.#o = opts;
    const sink = (list: 'diffs' | 'results') => ({ write: (r: unknown) => (opts.isCollectingLines ? this.#lines[list].push(JSON.stringify(r)) : 0) });
    this.#record = createJudgedRecorder({ diffs: sink('diffs'), results: sink('results') }, this.collector, { maxDecodedBytes: opts.maxDecodedBytes });
  }

  /**
   * The sole worker of its run (`Coordinator.isSole`): it plays the source as it reads it, with
   * the scheduler's own look-ahead, and commits only its state. Loading the whole run first would
   * keep every exchange until its session was leased back, long enough to be promoted: that cost
   * `--workers 1` 15-25 µs a request more than one process.
   */
  get isStreaming(): boolean {
    return this.#o.coordinator.isSole === true;
  }

  /** Joins the run; the first worker loads `source` (batches of exchanges in stream order), the others wait until it has. */
  async start(source: AsyncIterable<readonly HttpExchange[]>, sessionOf: (ex: HttpExchange) => string, signal: AbortSignal): Promise<void> {
    const c = this.#o.coordinator;
    await c.join();
    if (this.isStreaming) {
      if (!(await c.claimLoad())) throw new DoppelError('DOPPEL_INTERNAL', `${c.display}: the sole worker of a run found its traffic loaded by another`);
      await c.loadDone(0, new Set());
    } else if (c.loadSessions !== undefined) {
      // A local run: sessions are leased as the loader finds them ended, from the start.
      if (await c.claimLoad()) {
        const loader = new StreamLoader({
          coordinator: c,
          sessionOf,
          ...(this.#o.refOf === undefined ? {} : { refOf: this.#o.refOf }),
          ownAhead: () => OWN_PER_SENDER * this.#senders(),
          log: this.#o.log,
        });
        this.#loader = loader;
        // The read stops with the run, not with this worker's playing: if that fails, the others
        // play on and take its sessions, as from a worker process that died.
        this.#loading = loader.load(source, signal).catch((err: unknown) => {
          this.#loadError = err instanceof Error ? err : new Error(String(err));
        });
      } else await source[Symbol.asyncIterator]().return?.();
    } else if (await c.claimLoad()) {
      const loadBatch = c.loadBatch?.bind(c);
      if (loadBatch === undefined) throw cannotLoad(c);
      let batch: Array<[string, string]> = [];
      let sessions = 0;
      let exchanges = 0;
      let keptBytes = 0;
      let isKeptFull = false;
      const refOf = c.isStoreShared ? this.#o.refOf : undefined;
      for await (const read of source) {
        for (const ex of read) {
          const session = sessionOf(ex);
          // Workers sharing the store read their sessions from it: only where each exchange lies travels.
          const at = refOf?.(ex);
          const item = at === undefined ? encodeExchange(ex) : REF_MARK + at.ref;
          batch.push([session, item]);
          exchanges++;
          const own = this.#kept.get(session);
          if (own !== undefined || !isKeptFull) {
            keptBytes += at === undefined ? item.length : at.bytes;
            if (keptBytes > KEPT_MAX_BYTES) isKeptFull = true;
            // Full: no new session is kept, and a kept one that grows is dropped, so every copy is whole.
            if (isKeptFull) this.#kept.delete(session);
            else if (own !== undefined) own.push(ex);
            else this.#kept.set(session, [ex]);
          }
        }
        if (batch.length >= LOAD_BATCH) {
          sessions += await loadBatch(batch);
          batch = [];
        }
      }
      sessions += await loadBatch(batch);
      await c.loadDone(sessions, new Set(this.#kept.keys()));
      this.#o.log.info({ sessions, exchanges, coordinator: c.display }, 'traffic loaded into the run');
    } else {
      if (c.waitLoaded === undefined) throw cannotLoad(c);
      await c.waitLoaded(signal);
      // Another worker loaded the traffic: close this one's read of it.
      await source[Symbol.asyncIterator]().return?.();
    }
    this.#timer = setInterval(() => void this.#commit(), COMMIT_EVERY_MS);
    this.#timer.unref();
  }

  /**
   * The exchanges of the sessions leased to this worker, each session's in order and together:
   * one batch per lease call, so the scheduler reads them without a step of an async iterator each.
   */
  async *batches(batch: () => number, signal: AbortSignal): AsyncGenerator<HttpExchange[]> {
    const loader = this.#loader;
    this.#senders = batch;
    for (;;) {
      if (signal.aborted) return;
      if (this.#loadError !== undefined) throw this.#loadError;
      const own = loader?.takeOwn(OWN_PER_SENDER * batch()) ?? [];
      if (own.length > 0) {
        yield this.#playOwn(own);
        continue;
      }
      const { leases, isDone, isLoading } = await this.#o.coordinator.next(batch());
      if (leases.length === 0) {
        if (isDone) return;
        // The loader wakes as soon as it has a session of its own; the others ask again soon.
        if (loader !== undefined && !loader.isDone) await loader.ready(LOADING_POLL_MS);
        else await sleep(isLoading === true ? LOADING_POLL_MS : this.#o.pollMs, signal);
        continue;
      }
      const read = await this.#readLeasedRefs(leases);
      const out: HttpExchange[] = [];
      let nextRead = 0;
      for (const lease of leases) {
        const own = this.#kept.get(lease.session);
        this.#kept.delete(lease.session);
        const first = out.length;
        if (lease.isLocal === true) {
          if (own === undefined) throw new DoppelError('DOPPEL_INTERNAL', `${this.#o.coordinator.display}: session ${lease.session} was leased without its lines, and this worker holds no copy of it`);
          for (const ex of own) if (isHttpExchange(ex)) out.push(ex);
        } else {
          for (let i = 0; i < lease.lines.length; i++) {
            const line = lease.lines[i] as string;
            if (line.startsWith(REF_MARK)) {
              const ex = read[nextRead++] as Exchange;
              if (isHttpExchange(ex)) out.push(ex);
              continue;
            }
            const r = decodeExchangeLine(line, `${this.#o.coordinator.display} session ${lease.session}`, i + 1);
            if (r.ok && isHttpExchange(r.exchange)) out.push(r.exchange);
          }
        }
        this.#hold(lease, out, first);
      }
      if (out.length > 0) yield out;
    }
  }

  /** The loader's own sessions, granted to it as it handed them over: played from its parsed copy. */
  #playOwn(own: readonly OwnSession[]): HttpExchange[] {
    const out: HttpExchange[] = [];
    for (const s of own) {
      const first = out.length;
      for (const ex of s.exchanges) out.push(ex);
      const lease: SessionLease = { entry: String(s.slot), session: s.session, lines: [], isResent: false, isLocal: true };
      if (s.isPiece) lease.isPiece = true;
      this.#hold(lease, out, first);
    }
    return out;
  }

  /** The session's exchanges, out[first..], are played under its lease: their records wait for the whole of it. */
  #hold(lease: SessionLease, out: readonly HttpExchange[], first: number): void {
    const buf: SessionBuffer = { lease, left: out.length - first, judged: [], recorded: [] };
    if (lease.isResent) {
      this.#resent++;
      if (this.#resentIds.length < RESENT_IDS_KEPT) this.#resentIds.push(lease.session);
    }
    if (buf.left === 0) {
      this.#finishSession(buf);
      return;
    }
    for (let i = first; i < out.length; i++) this.#open.set((out[i] as HttpExchange).id, buf);
  }

  /** The exchanges behind the store references of these leases, in their order: one read for the batch. */
  async #readLeasedRefs(leases: readonly SessionLease[]): Promise<Exchange[]> {
    const refs: string[] = [];
    for (const lease of leases) if (lease.isLocal !== true) for (const line of lease.lines) if (line.startsWith(REF_MARK)) refs.push(line.slice(REF_MARK.length));
    if (refs.length === 0) return [];
    if (this.#o.readRefs === undefined) throw new DoppelError('DOPPEL_INTERNAL', `${this.#o.coordinator.display}: sessions were loaded as store references, and this worker's traffic source cannot read them`);
    return this.#o.readRefs(refs);
  }

  readonly sessionOf = (ex: HttpExchange): string => this.#open.get(ex.id)?.lease.session ?? ex.id;

  /** The judge's evaluator: records wait in their session until it is played whole. */
  readonly evaluatorSink = {
    record: (j: JudgedRequest): void => {
      const buf = this.#open.get(j.exchangeId);
      if (buf === undefined) this.#o.evaluator.record(j);
      else buf.judged.push(j);
    },
  };

  /** The judge's report: the same hold. */
  readonly reportSink = {
    record: (...args: Parameters<JudgedRecord>): void => {
      const buf = this.#open.get(args[0].exchangeId);
      if (buf === undefined) this.#record(...args);
      else buf.recorded.push(args);
    },
  };

  /** A streaming worker played a request of `session` (not cancelled). */
  playedInStream(session: string): void {
    if (!this.#streamed.has(session)) {
      this.#streamed.set(session, true);
      this.#sessions++;
    }
  }

  /** One request of a leased session was played to its end (not cancelled). */
  played(exchangeId: string): void {
    const buf = this.#open.get(exchangeId);
    if (buf === undefined) return;
    this.#open.delete(exchangeId);
    buf.left--;
    if (buf.left === 0) this.#finishSession(buf);
  }

  #finishSession(buf: SessionBuffer): void {
    for (const j of buf.judged) this.#o.evaluator.record(j);
    for (const r of buf.recorded) this.#record(...r);
    // Let go at once: `#open` churns an entry per request, and a Map's table left behind by a
    // rehash stays in the old generation, pointing at the buffers it held, until the next full GC.
    // All a buffer reached (the pair's headers, bodies, outcome) then survived as many scavenges
    // and was promoted: 2.2 KB a request, which doubled the worker's GC pause.
    buf.judged.length = 0;
    buf.recorded.length = 0;
    this.#done.push(buf.lease);
    if (buf.lease.isPiece !== true) this.#sessions++;
  }

  #partial(abortReason: string | undefined, finishedAt: string | undefined): WorkerPartial {
    return {
      v: 1,
      worker: this.#o.coordinator.workerId,
      run: this.#o.run,
      evaluator: this.#o.evaluator.state(),
      noise: this.#o.noise?.evidence() ?? [],
      diffs: this.collector.state(),
      sessions: this.#sessions,
      resent: this.#resent,
      resentSessions: [...this.#resentIds],
      ...(abortReason === undefined ? {} : { abortReason }),
      ...(finishedAt === undefined ? {} : { finishedAt }),
    };
  }

  /** Commits finished sessions with the state that covers them; a failed commit is retried with the next. */
  #commit(abortReason?: string, finishedAt?: string, isFinal = false): Promise<void> {
    this.#commits = this.#commits.then(async () => {
      if (this.#done.length === 0 && !isFinal) return;
      const done = this.#done;
      const lines = this.#lines;
      this.#done = [];
      this.#lines = { diffs: [], results: [] };
      try {
        await this.#o.coordinator.commit(this.#partial(abortReason, finishedAt), done, lines);
      } catch (err) {
        this.#done = [...done, ...this.#done];
        this.#lines = { diffs: [...lines.diffs, ...this.#lines.diffs], results: [...lines.results, ...this.#lines.results] };
        if (isFinal) throw err;
        this.#o.log.warn({ err, sessions: done.length }, 'commit failed; retrying with the next');
      }
    });
    return this.#commits;
  }

  get resent(): number {
    return this.#resent;
  }

  /** Commits what is finished and leaves the run; true when this worker writes the merged report. */
  async finish(abortReason: string | undefined, finishedAt: string): Promise<boolean> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    // A stopped run's loader ends its read at once: nothing of it is left running.
    await this.#loading;
    await this.#commit(abortReason, finishedAt, true);
    return this.#o.coordinator.finish();
  }
}
