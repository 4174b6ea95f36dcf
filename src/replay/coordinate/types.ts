/**
 * The protocol of a run shared by several replay workers: the traffic is
 * loaded once as sessions, each session is leased whole to one worker, a
 * worker commits its finished sessions together with its mergeable judge
 * state, and the last worker to finish writes the merged report. Two
 * implementations: Redis Streams (workers on any machines) and in-process
 * (`--workers N` on one machine, the parent holding the state).
 */
import type { NoiseEvidence } from '../../compare/noise.js';
import type { CutoffsConfig } from '../../config/schema.js';
import type { EvaluatorState } from '../../gates/gate-accumulator.js';
import type { DiffCollectorState } from '../../report/diff-collector.js';

/**
 * Marks an item of a session that is a reference into the traffic store (ExchangeReader.readRefs)
 * rather than an exchange line, which is JSON text and never starts with it.
 */
export const REF_MARK = '@';

/** One session handed to one worker: its exchanges in recorded order. */
export interface SessionLease {
  /** the stream entry (Redis) or slot (in-process) to acknowledge */
  entry: string;
  session: string;
  /** exchange lines, or store references after REF_MARK when the run's workers share the store */
  lines: string[];
  /** true when another worker held it before and was lost: its requests are sent again */
  isResent: boolean;
  /** the lines were not sent back: this worker loaded the session and plays its own copy */
  isLocal?: boolean;
  /** it continues a session begun in an earlier lease: not counted as a session of its own */
  isPiece?: boolean;
}

/** A whole session (or a piece of one) as a loader that streams hands it over: [session, lines, isOwn, isPiece]. */
export type LoadedSession = [session: string, lines: string[], isOwn: boolean, isPiece: boolean];

/** loadSessions' answer: each session's slot in order (-1: a piece that waits for its session's earlier slot) and how many wait to be leased. */
export interface LoadAnswer {
  slots: number[];
  waiting: number;
}

/** What a worker has judged in the sessions it committed: every field merges by addition. */
export interface WorkerPartial {
  v: 1;
  worker: string;
  /** what the merged report needs to evaluate gates without the workers' flags */
  run: {
    gates: Record<string, string>;
    cutoffs: CutoffsConfig;
    hasLatencyBaseline: boolean;
    /** compare.noise_confidence, to take noise decisions again over the merged evidence */
    noiseConfidence: number;
    target: string;
    baseline: string;
    startedAt: string;
  };
  evaluator: EvaluatorState;
  noise: NoiseEvidence;
  diffs: DiffCollectorState;
  /** sessions committed */
  sessions: number;
  /** of those, sessions leased after a lost worker held them */
  resent: number;
  /** the first few re-sent session ids */
  resentSessions: string[];
  /** the worker stopped early (cutoff, unreachable target, signal) */
  abortReason?: string;
  finishedAt?: string;
}

/** Report lines a commit carries: diffs.ndjson and results.ndjson records as JSON text. */
export interface CommitLines {
  diffs: string[];
  results: string[];
}

export interface Coordinator {
  readonly workerId: string;
  /** where the run lives, for messages (no credentials) */
  readonly display: string;
  /**
   * Every worker of the run reads the same traffic locations (local workers of one command
   * line): the loader may load store references in place of exchange lines, and each worker
   * reads its sessions from the store itself. Workers on other machines get the lines.
   */
  readonly isStoreShared: boolean;
  /**
   * No other worker can ever join this run: the one worker of `--workers 1`, held in the process
   * that holds the run. It plays the traffic as it reads it, as one process does, and uses the run
   * only to report: nothing is loaded into it, leased or re-sent.
   */
  readonly isSole?: boolean;
  /** registers this worker and starts its heartbeat */
  join(): Promise<void>;
  /** true for the one worker that loads the traffic (the first to ask) */
  claimLoad(): Promise<boolean>;
  /**
   * Loading the whole traffic before any session is leased (Redis): appends exchange lines (or
   * REF_MARK references) to their sessions, in stream order (a session may span calls); resolves
   * to the count of new sessions. A run without it takes sessions whole as they end (`loadSessions`).
   */
  loadBatch?(items: ReadonlyArray<readonly [session: string, line: string]>): Promise<number>;
  /**
   * Streaming the traffic into the run (local workers): sessions the loader found ended, whole,
   * leasable at once by every worker while it reads on. Its own (`isOwn`) are granted to it.
   */
  loadSessions?(sessions: readonly LoadedSession[]): Promise<LoadAnswer>;
  /** With loadSessions: the loader failed before it read the whole traffic (`reason` for the others' error). */
  loadFailed?(reason: string): Promise<void>;
  /**
   * The traffic is loaded: sessions may be handed out (loadBatch), or no more will come
   * (loadSessions). `kept`, with loadBatch: sessions the loader holds whole in memory; leased
   * fresh to the loader they come without lines (`isLocal`), so the traffic does not travel back
   * to the worker that just sent it.
   */
  loadDone(sessions: number, kept: ReadonlySet<string>): Promise<void>;
  /**
   * With loadBatch: resolves once the traffic is loaded; rejects when the loading worker was lost
   * first. A run that takes sessions as they end has no such wait: its workers lease at once.
   */
  waitLoaded?(signal: AbortSignal): Promise<void>;
  /**
   * Up to `max` sessions for this worker (an in-process run grants new ones several times
   * that many ahead while many are left): new ones first, then ones a lost worker held longer
   * than the claim timeout. `isDone` once no session is left unacknowledged anywhere.
   */
  next(max: number): Promise<{ leases: SessionLease[]; isDone: boolean; isLoading?: boolean }>;
  /** workers whose heartbeat is current, this one included */
  liveWorkers(): Promise<number>;
  /** atomically: replaces this worker's partial, appends its report lines, acknowledges its finished sessions */
  commit(partial: WorkerPartial, finished: readonly SessionLease[], lines: CommitLines): Promise<void>;
  /** leaves the run without finishing it (a `--load-only` loader): no longer counted live */
  leave(): Promise<void>;
  /**
   * This worker is done. Resolves true for the one worker that writes the merged report:
   * the last to finish once every other worker has finished or was lost.
   */
  finish(): Promise<boolean>;
  partials(): Promise<WorkerPartial[]>;
  /** report lines of every commit, in pages */
  lines(kind: keyof CommitLines): AsyncIterable<string[]>;
  close(): Promise<void>;
}

/** Timing of the protocol; the heartbeat follows the claim timeout so a live worker's leases never look idle. */
export interface CoordinationTiming {
  /** a session leased this long ago by a worker that stopped renewing it is claimed by another */
  claimTimeoutMs: number;
  /** how often idle workers look for work and leases are renewed */
  pollMs: number;
}

export function coordinationTiming(claimTimeoutMs: number): CoordinationTiming {
  return { claimTimeoutMs, pollMs: Math.max(20, Math.min(500, Math.floor(claimTimeoutMs / 8))) };
}

/** Run ids become Redis key hash tags: braces would break the tag. */
export function checkRunId(runId: string): string | undefined {
  return /^[A-Za-z0-9._:-]{1,128}$/.test(runId) ? undefined : `--run-id: ${JSON.stringify(runId)} must be 1-128 characters of letters, digits and . _ : -`;
}
