/**
 * The tee: a sink for the capture proxy. The proxy hands it each finished
 * primary exchange off the client's path; `offer` only checks and enqueues
 * (never blocks, never awaits). A pump sends copies to the candidate with a
 * bounded number in flight; whatever does not fit is dropped and counted in
 * doppel_shadow_dropped_total{reason}. Answers go to the judge.
 */
import { BoundedQueue } from '../core/bounded-queue.js';
import type { Logger } from '../core/logger.js';
import type { Judge } from '../judge/judge.js';
import { CopyPacer } from './copy-pacer.js';
import { CopySender, type LiveMockPort } from './copy-sender.js';
import { JudgeLane } from './judge-lane.js';
import type { CandidateClient, ShadowDropReason, TeeExchange } from './types.js';
import { IdleWaiters } from './wait-idle.js';

export interface ShadowTeeOptions {
  candidate: CandidateClient;
  secondary?: CandidateClient | undefined;
  /** true when the secondary should get this endpoint's copy (noise learning wants samples) */
  wantsSecondary?: ((endpoint: string) => boolean) | undefined;
  judge: Judge;
  liveMocks?: LiveMockPort | undefined;
  queueItems: number;
  /**
   * Longest a copy may wait for an in-flight slot (ms). A copy that would wait
   * longer is refused as queue_full: it would reach the candidate late, and while
   * it waits it is kept alive across garbage collections, whose pauses the
   * primary's requests share.
   */
  maxQueueWaitMs: number;
  maxInFlight: number;
  drop: (reason: ShadowDropReason) => void;
  log: Logger;
}

export interface TeeStats {
  queued: number;
  inFlight: number;
  judging: number;
  /** highest values seen since start: the bounds held */
  maxQueued: number;
  maxInFlight: number;
  offered: number;
  sent: number;
  answered: number;
}

export interface ShadowTee {
  /** CaptureSink: never blocks; false when the copy was dropped (and counted) */
  readonly isPaused: boolean;
  offer(ex: TeeExchange): boolean;
  /** CaptureSink: false (drop counted) when a copy started now would be dropped anyway */
  admit(): boolean;
  /** counts a request the proxy's decision left out (filtered, sampled_out) */
  skip(reason: string): void;
  stats(): TeeStats;
  /** stops taking copies, lets queued and in-flight work finish up to the deadline, drops the rest */
  drain(deadlineMs: number): Promise<void>;
}

interface Queued {
  readonly ex: TeeExchange;
  readonly at: number;
}

const SKIP_REASONS: ReadonlySet<string> = new Set(['filtered', 'sampled_out']);

/** Copies sent per event-loop turn. */
const SENDS_PER_TURN = 16;
/** Waiting beyond twice shadow.queue_wait plus this (ms) makes a queued copy stale: the slack covers the turn or two before the pump runs. */
const STALE_SLACK_MS = 20;

export function createShadowTee(opts: ShadowTeeOptions): ShadowTee {
  const queue = new BoundedQueue<Queued>(opts.queueItems);
  const log = opts.log.child({ component: 'shadow-tee' });
  let inFlight = 0;
  /** judgments not yet settled: a count, since only drain asks whether any are left */
  let judging = 0;
  let isClosing = false;
  let isScheduled = false;
  const st = { maxQueued: 0, maxInFlight: 0, offered: 0 };
  const pacer = new CopyPacer(opts.maxInFlight);
  let paceTimer: NodeJS.Timeout | undefined;

  const isQueueFullInTime = () => pacer.wouldWaitLonger(queue.length - (opts.maxInFlight - inFlight), opts.maxQueueWaitMs);

  const idle = new IdleWaiters(() => queue.length === 0 && inFlight === 0 && judging === 0);
  const checkIdle = (): void => idle.check();

  const schedule = () => {
    if (isScheduled) return;
    isScheduled = true;
    // Sending starts on a later turn: the primary's response finishes its tick untouched.
    setImmediate(pump);
  };

  const sender = new CopySender({
    candidate: opts.candidate,
    secondary: opts.secondary,
    wantsSecondary: opts.wantsSecondary,
    judge: opts.judge,
    liveMocks: opts.liveMocks,
    drop: opts.drop,
    pacer,
    lane: new JudgeLane(),
    release: () => {
      inFlight--;
      if (queue.length > 0) schedule();
      checkIdle();
    },
    judging: (settled) => {
      judging++;
      void settled.finally(() => {
        judging--;
        checkIdle();
      });
    },
    log,
  });

  function pump(): void {
    isScheduled = false;
    let sent = 0;
    while (inFlight < opts.maxInFlight && queue.length > 0) {
      if (opts.candidate.isAvailable?.() === false) {
        // The candidate refuses connections: what waits would only fail, one connect attempt each.
        for (let q = queue.poll(); q !== undefined; q = queue.poll()) opts.drop('candidate_error');
        break;
      }
      // Admitted when the candidate was faster than it is now: sent this late they would only add to the backlog.
      const staleBefore = performance.now() - STALE_SLACK_MS - 2 * opts.maxQueueWaitMs;
      while (queue.length > 0 && (queue.peek() as Queued).at < staleBefore) {
        queue.poll();
        opts.drop('queue_full');
      }
      if (queue.length === 0) break;
      if (sent === SENDS_PER_TURN) {
        // The rest go on a later turn: a burst of freed slots must not hold the primary's sockets back.
        schedule();
        break;
      }
      const delay = pacer.delayBeforeSend(performance.now());
      if (delay > 0) {
        if (paceTimer === undefined) {
          paceTimer = setTimeout(() => {
            paceTimer = undefined;
            pump();
          }, delay);
        }
        break;
      }
      sent++;
      const ex = (queue.poll() as Queued).ex;
      inFlight++;
      if (inFlight > st.maxInFlight) st.maxInFlight = inFlight;
      sender.send(ex);
    }
    checkIdle();
  }

  return {
    isPaused: false,
    offer(ex) {
      st.offered++;
      if (isClosing) {
        opts.drop('shutdown');
        return false;
      }
      if (ex.response === undefined || ex.error !== undefined) {
        // No whole primary answer (reset, timeout, client gone): nothing to compare the candidate with.
        opts.drop('primary_error');
        return false;
      }
      if (ex.requestTruncated || ex.response.truncated) {
        opts.drop('body_too_large');
        return false;
      }
      if (opts.candidate.isAvailable?.() === false) {
        opts.drop('candidate_error');
        return false;
      }
      if (isQueueFullInTime() || !queue.offer({ ex, at: performance.now() })) {
        opts.drop('queue_full');
        return false;
      }
      if (queue.length > st.maxQueued) st.maxQueued = queue.length;
      schedule();
      return true;
    },
    admit() {
      // Checked when the primary request starts: under a backlog most copies would be
      // dropped at offer, and tapping their bodies first is work (and garbage) on the primary's path.
      const reason: ShadowDropReason | undefined = isClosing
        ? 'shutdown'
        : opts.candidate.isAvailable?.() === false
          ? 'candidate_error'
          : queue.length >= queue.maxItems || isQueueFullInTime()
            ? 'queue_full'
            : undefined;
      if (reason === undefined) return true;
      st.offered++;
      opts.drop(reason);
      return false;
    },
    skip(reason) {
      opts.drop(SKIP_REASONS.has(reason) ? (reason as ShadowDropReason) : 'filtered');
    },
    stats() {
      return { queued: queue.length, inFlight, judging, ...st, sent: sender.sent, answered: sender.answered };
    },
    async drain(deadlineMs) {
      isClosing = true;
      await idle.drain(queue, deadlineMs, () => opts.drop('shutdown'));
      clearTimeout(paceTimer);
      paceTimer = undefined;
    },
  };
}
