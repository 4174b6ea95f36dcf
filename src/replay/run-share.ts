/**
 * A coordinated worker's part of the run's --rate and --concurrency: the
 * whole run's figures split over the live workers, and split again while the
 * run goes on when a worker joins late, finishes or is lost. Each worker
 * counts the live workers on its own (heartbeats in Redis, the parent's view
 * over IPC); no one hands shares out.
 */
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Coordinator } from './coordinate/types.js';
import { ScheduleShare } from './session-scheduler.js';

/** This worker's part of --rate and --concurrency, from a count of live workers. */
export interface ShareChange {
  /** ms since this worker started sending */
  atMs: number;
  liveWorkers: number;
  concurrency: number;
  /** requests per second; none in recorded timing */
  rate: number | undefined;
}

export interface RunTotals {
  rate: number | undefined;
  concurrency: number;
}

/** The whole run's rate and concurrency split over the live workers. */
export function shareOf(total: RunTotals, liveWorkers: number): { concurrency: number; rate: number | undefined } {
  const n = Math.max(1, liveWorkers);
  return { concurrency: Math.max(1, Math.ceil(total.concurrency / n)), rate: total.rate === undefined ? undefined : total.rate / n };
}

/** How often a worker asks how many workers are live, at least. */
const SHARE_EVERY_MS = 250;

export interface RunShare {
  /** what the scheduler follows */
  readonly schedule: ScheduleShare;
  /** the first share and every change after it */
  readonly changes: ShareChange[];
  /** starts counting the live workers (when sending starts) */
  start(): void;
  stop(): void;
}

export interface RunShareOptions {
  coordinator: Coordinator;
  total: RunTotals;
  /** live workers counted at start */
  liveWorkers: number;
  pollMs: number;
  clock: Clock;
  /** no change once the run stops */
  signal: AbortSignal;
  log: Logger;
}

export function followLiveWorkers(opts: RunShareOptions): RunShare {
  let live = opts.liveWorkers;
  const first = shareOf(opts.total, live);
  const schedule = new ScheduleShare(first.concurrency, first.rate);
  const changes: ShareChange[] = [{ atMs: 0, liveWorkers: live, ...first }];
  let timer: NodeJS.Timeout | undefined;
  let isAsking = false;
  return {
    schedule,
    changes,
    start() {
      const t0 = opts.clock.monotonic();
      timer = setInterval(() => {
        // A slow coordinator is not asked again before it answered.
        if (isAsking) return;
        isAsking = true;
        opts.coordinator
          .liveWorkers()
          .then((n) => {
            if (n === live || opts.signal.aborted) return;
            live = n;
            const next = shareOf(opts.total, n);
            schedule.set(next.concurrency, next.rate);
            changes.push({ atMs: Math.round(opts.clock.monotonic() - t0), liveWorkers: n, ...next });
            opts.log.info({ liveWorkers: n, concurrency: next.concurrency, rate: next.rate }, 'share of the run recomputed');
          })
          .catch((err: unknown) => opts.log.debug({ err }, 'could not count the live workers'))
          .finally(() => (isAsking = false));
      }, Math.max(SHARE_EVERY_MS, opts.pollMs));
      timer.unref();
    },
    stop() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
    },
  };
}
