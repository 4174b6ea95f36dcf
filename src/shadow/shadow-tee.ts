/**
 * The tee: a sink for the capture proxy. The proxy hands it each finished
 * primary exchange off the client's path; `offer` only checks and enqueues
 * (never blocks, never awaits). A pump sends copies to the candidate with a
 * bounded number in flight; whatever does not fit is dropped and counted in
 * doppel_shadow_dropped_total{reason}. Answers go to the judge.
 */
import { BoundedQueue } from '../core/bounded-queue.js';
import type { Logger } from '../core/logger.js';
import type { HeaderPairs } from '../core/exchange.js';
import { endpointLabel } from '../metrics/route-template.js';
import type { Judge } from '../judge/judge.js';
import type { OutboundCall } from '../judge/types.js';
import { CandidateCallError, type CandidateClient, type CandidateRequest, type CandidateResponse, type ShadowDropReason, type TeeExchange } from './types.js';

/** What the tee asks of the live mocks for one copy. */
export interface LiveMockSession {
  /** headers to send the candidate (a traceparent may be added so its calls can be correlated) */
  readonly headers: readonly string[];
  /** the primary's and the candidate's downstream calls, once the candidate answered */
  finish(): { primary: OutboundCall[]; candidate: OutboundCall[] };
}

export interface LiveMockPort {
  /** opens the correlation of one copy: the primary's calls for it become the candidate's mocks */
  begin(ex: TeeExchange): LiveMockSession;
}

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

function concat(chunks: readonly Buffer[]): Buffer {
  if (chunks.length === 0) return Buffer.alloc(0);
  if (chunks.length === 1) return chunks[0] as Buffer;
  return Buffer.concat(chunks);
}

function pairs(flat: readonly string[]): HeaderPairs {
  const out: HeaderPairs = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i] as string, flat[i + 1] as string]);
  return out;
}

interface Queued {
  readonly ex: TeeExchange;
  readonly at: number;
}

const SKIP_REASONS: ReadonlySet<string> = new Set(['filtered', 'sampled_out']);

/** Copies sent per event-loop turn. */
const SENDS_PER_TURN = 16;
/**
 * Below this spacing between copies (ms) sending is not paced: a fast
 * candidate frees its slots one by one anyway.
 */
const MIN_PACED_GAP_MS = 0.25;
/** Weight of the newest candidate call in the latency average that sets the pace. */
const LATENCY_EWMA_WEIGHT = 0.1;
/** Waiting beyond twice shadow.queue_wait plus this (ms) makes a queued copy stale: the slack covers the turn or two before the pump runs. */
const STALE_SLACK_MS = 20;
/** Time spent judging inline per event-loop turn before yielding to I/O. */
const JUDGE_SLICE_MS = 1;

export function createShadowTee(opts: ShadowTeeOptions): ShadowTee {
  const queue = new BoundedQueue<Queued>(opts.queueItems);
  const log = opts.log.child({ component: 'shadow-tee' });
  let inFlight = 0;
  /** judgments not yet settled: a count, since only drain asks whether any are left */
  let judging = 0;
  let isClosing = false;
  let isScheduled = false;
  const st = { maxQueued: 0, maxInFlight: 0, offered: 0, sent: 0, answered: 0 };
  let idleWaiters: Array<() => void> = [];
  /**
   * Copies are spread evenly at the rate the candidate can take them (in-flight
   * limit / its latency) instead of refilling every freed slot at once. Without
   * this a slow candidate settles into waves: all slots are sent together, all
   * answers come back together a latency later, and each wave's parsing, judging
   * and resending lands on the primary's requests of that millisecond.
   */
  let latencyEwmaMs = 0;
  let nextSendAt = 0;
  let paceTimer: NodeJS.Timeout | undefined;
  const notePace = (ms: number) => {
    latencyEwmaMs = latencyEwmaMs === 0 ? ms : latencyEwmaMs + LATENCY_EWMA_WEIGHT * (ms - latencyEwmaMs);
  };

  /**
   * Copies leave the queue at about maxInFlight per candidate latency (the pace
   * below), so a new copy waits for the copies ahead of it that free slots do not
   * take at once, one gap each. Before the first answer nothing is known and only
   * the item bound applies.
   */
  const isQueueFullInTime = () => {
    const ahead = queue.length - (opts.maxInFlight - inFlight);
    return ahead >= 0 && ((ahead + 1) * latencyEwmaMs) / opts.maxInFlight > opts.maxQueueWaitMs;
  };

  const checkIdle = () => {
    if (queue.length === 0 && inFlight === 0 && judging === 0 && idleWaiters.length > 0) {
      const w = idleWaiters;
      idleWaiters = [];
      for (const f of w) f();
    }
  };

  const schedule = () => {
    if (isScheduled) return;
    isScheduled = true;
    // Sending starts on a later turn: the primary's response finishes its tick untouched.
    setImmediate(pump);
  };

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
      const gap = latencyEwmaMs / opts.maxInFlight;
      if (gap >= MIN_PACED_GAP_MS) {
        const now = performance.now();
        if (now < nextSendAt) {
          if (paceTimer === undefined) {
            paceTimer = setTimeout(() => {
              paceTimer = undefined;
              pump();
            }, nextSendAt - now);
          }
          break;
        }
        // A late timer may catch up by a couple of copies, never by a burst.
        nextSendAt = Math.max(nextSendAt, now - 2 * gap) + gap;
      }
      sent++;
      const ex = (queue.poll() as Queued).ex;
      inFlight++;
      if (inFlight > st.maxInFlight) st.maxInFlight = inFlight;
      run(ex);
    }
    checkIdle();
  }

  /**
   * Answers are judged on later turns, a bounded slice of time per turn, not in the
   * I/O callback that delivered them: a slow candidate answers in waves (every slot
   * freed at once), and judging a whole wave at once would stall the primary's traffic.
   * A pair waiting here keeps its in-flight slot, so the lane is bounded by maxInFlight.
   */
  const lane: Array<() => void> = [];
  let isLaneScheduled = false;
  const runLane = () => {
    isLaneScheduled = false;
    const until = performance.now() + JUDGE_SLICE_MS;
    let n = 0;
    while (lane.length > 0) {
      (lane.shift() as () => void)();
      if (++n % 4 === 0 && performance.now() >= until) break;
    }
    if (lane.length > 0) {
      isLaneScheduled = true;
      setImmediate(runLane);
    }
  };
  const inLane = (fn: () => void): void => {
    lane.push(fn);
    if (!isLaneScheduled) {
      isLaneScheduled = true;
      setImmediate(runLane);
    }
  };

  /** A copy is done (answered and handed to the judge, or failed): its in-flight slot goes back. */
  const release = () => {
    inFlight--;
    if (queue.length > 0) schedule();
    checkIdle();
  };

  /**
   * Sends one copy and judges the answer. Only what the judge needs is kept
   * across the wait (a copy is in flight for the candidate's whole latency, so
   * whatever it holds survives garbage collections, and copying survivors is
   * what makes those pauses long for the primary): not the exchange, its
   * request or header pairs, and no promise or async frame per copy.
   */
  function run(ex: TeeExchange): void {
    const response = ex.response as NonNullable<TeeExchange['response']>;
    const { id, startedAt: at, method, url, durationMs } = ex;
    const status = response.status;
    const rawHeaders = response.headers;
    const baselineBody = concat(response.body);
    const endpoint = endpointLabel(method, url);
    const session = opts.liveMocks?.begin(ex);
    const wantsSecondary = opts.secondary !== undefined && (opts.wantsSecondary?.(endpoint) ?? true);
    st.sent++;
    const sentAt = performance.now();
    let waiting = wantsSecondary ? 2 : 1;
    let candidate: CandidateResponse | undefined;
    let failure: CandidateCallError | undefined;
    let secondary: CandidateResponse | undefined;

    const answered = () => {
      notePace(performance.now() - sentAt);
      if (candidate === undefined) {
        session?.finish();
        const reason = failure?.reason ?? 'candidate_error';
        opts.drop(reason);
        if (reason !== 'body_too_large') {
          opts.judge.unanswered({ id, at, method, url, endpoint, baselineStatus: status, baselineMs: durationMs, error: `${reason}: ${failure?.message ?? 'no answer'}` });
        }
        release();
        return;
      }
      st.answered++;
      const outbound = session?.finish();
      const c = candidate;
      const s = secondary;
      inLane(() => {
        try {
          const p = opts.judge.judge({
            id,
            at,
            method,
            url,
            endpoint,
            baseline: { status, headers: pairs(rawHeaders), body: baselineBody, durationMs },
            baselineMs: durationMs,
            candidate: { status: c.status, headers: c.headers, body: c.body, durationMs: c.durationMs },
            secondary: s === undefined ? undefined : { status: s.status, headers: s.headers, body: s.body, durationMs: s.durationMs },
            outbound,
          });
          // Large pairs wait for the worker pool, whose queue is their bound; the in-flight slot goes back now.
          judging++;
          void p.finally(() => {
            judging--;
            checkIdle();
          });
        } finally {
          release();
        }
      });
    };

    const req: CandidateRequest = { method, url, headers: session?.headers ?? ex.requestHeaders, body: ex.requestBody.length === 0 ? null : concat(ex.requestBody) };
    opts.candidate.call(req, (err, res) => {
      candidate = res;
      failure = err;
      if (--waiting === 0) answered();
    });
    if (wantsSecondary) {
      (opts.secondary as CandidateClient).call(req, (err, res) => {
        // The secondary only feeds noise learning: its failure is logged, never a drop.
        if (err !== undefined) log.debug({ err, id }, 'secondary failed');
        secondary = res;
        if (--waiting === 0) answered();
      });
    }
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
      return { queued: queue.length, inFlight, judging, ...st };
    },
    async drain(deadlineMs) {
      isClosing = true;
      const idle = new Promise<void>((resolve) => {
        idleWaiters.push(resolve);
        checkIdle();
      });
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, deadlineMs);
      });
      await Promise.race([idle, expired]);
      clearTimeout(timer);
      for (let q = queue.poll(); q !== undefined; q = queue.poll()) opts.drop('shutdown');
      clearTimeout(paceTimer);
      paceTimer = undefined;
    },
  };
}
