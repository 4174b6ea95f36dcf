/**
 * A small pool of worker threads for CPU-heavy comparisons, with a bounded
 * task queue. `compare` never queues past the bound: it returns undefined and
 * the caller counts the drop (judge_saturated), so a flood of large bodies
 * costs the primary nothing and memory stays flat.
 */
import type { Worker } from 'node:worker_threads';
import { spawnModuleWorker } from '../core/module-worker.js';
import type { ResolvedCompare } from '../config/resolve.js';
import type { CompareOutcome, ResponseSample } from '../compare/types.js';
import type { Logger } from '../core/logger.js';

export interface JudgeTask {
  seq: number;
  endpoint: string;
  baseline: ResponseSample;
  candidate: ResponseSample;
}

export type JudgeTaskResult = { seq: number; outcome: CompareOutcome } | { seq: number; error: string };

export interface JudgePoolOptions {
  compare: ResolvedCompare;
  workers: number;
  /** tasks waiting for a worker, beyond the one each worker runs */
  maxQueued: number;
  log: Logger;
}

export interface JudgePool {
  /** undefined when the pool is saturated (nothing was queued) */
  compare(baseline: ResponseSample, candidate: ResponseSample, endpoint: string): Promise<CompareOutcome> | undefined;
  /** tasks running or waiting */
  readonly pending: number;
  close(): Promise<void>;
}

interface Pending {
  task: JudgeTask;
  resolve: (o: CompareOutcome) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  busy: Pending | undefined;
}

/** Consecutive worker deaths without one answer, after which the pool stops respawning (and drops). */
const MAX_RESPAWNS = 3;

export function createJudgePool(opts: JudgePoolOptions): JudgePool {
  const queue: Pending[] = [];
  let deaths = 0;
  let seq = 0;
  let isClosed = false;
  const log = opts.log.child({ component: 'judge-pool' });

  const spawn = (): Slot => {
    const worker = spawnModuleWorker(import.meta.url, 'judge-worker', { compare: opts.compare });
    const slot: Slot = { worker, busy: undefined };
    worker.unref();
    worker.on('message', (msg: JudgeTaskResult) => {
      deaths = 0;
      const p = slot.busy;
      slot.busy = undefined;
      if (p !== undefined) {
        if ('outcome' in msg) p.resolve(msg.outcome);
        else p.reject(new Error(msg.error));
      }
      next(slot);
    });
    worker.on('error', (err) => {
      log.error({ err }, 'judge worker failed');
      slot.busy?.reject(err);
      slot.busy = undefined;
      if (isClosed) return;
      deaths++;
      const i = slots.indexOf(slot);
      if (deaths > MAX_RESPAWNS) {
        // A worker that cannot even start would respawn forever: give up, and drop large comparisons.
        if (i !== -1) slots.splice(i, 1);
        if (slots.length === 0) for (const q of queue.splice(0)) q.reject(new Error('judge pool has no workers'));
        return;
      }
      // Replace the dead worker so the pool keeps its size.
      if (i !== -1) {
        const fresh = spawn();
        slots[i] = fresh;
        next(fresh);
      }
    });
    return slot;
  };

  // Spawned on the first large comparison: a run with small bodies never pays for a thread.
  const slots: Slot[] = [];
  let isSpawned = false;
  const ensureSpawned = () => {
    if (isSpawned) return;
    isSpawned = true;
    for (let i = 0; i < Math.max(1, opts.workers); i++) slots.push(spawn());
  };

  const next = (slot: Slot) => {
    if (slot.busy !== undefined || isClosed) return;
    const p = queue.shift();
    if (p === undefined) return;
    slot.busy = p;
    slot.worker.postMessage(p.task);
  };

  return {
    compare(baseline, candidate, endpoint) {
      ensureSpawned();
      if (isClosed || slots.length === 0) return undefined;
      const idle = slots.find((s) => s.busy === undefined);
      if (idle === undefined && queue.length >= opts.maxQueued) return undefined;
      return new Promise<CompareOutcome>((resolve, reject) => {
        queue.push({ task: { seq: ++seq, endpoint, baseline, candidate }, resolve, reject });
        if (idle !== undefined) next(idle);
      });
    },
    get pending() {
      return queue.length + slots.filter((s) => s.busy !== undefined).length;
    },
    async close() {
      isClosed = true;
      for (const p of queue.splice(0)) p.reject(new Error('judge pool closed'));
      await Promise.all(
        slots.map(async (s) => {
          s.busy?.reject(new Error('judge pool closed'));
          s.busy = undefined;
          await s.worker.terminate();
        }),
      );
    },
  };
}
