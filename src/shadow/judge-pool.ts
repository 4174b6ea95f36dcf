/**
 * A small pool of worker threads for CPU-heavy comparisons, with a bounded
 * task queue. `compare` never queues past the bound: it returns undefined and
 * the caller counts the drop (judge_saturated), so a flood of large bodies
 * costs the primary nothing and memory stays flat.
 */
import { Worker } from 'node:worker_threads';
import type { CompareConfig } from '../config/schema.js';
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
  compare: CompareConfig;
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

/** The worker's module: the .ts source under tsx (dev, tests), the .js build otherwise. */
function workerEntry(): { url: URL; execArgv: string[] } {
  const isTs = import.meta.url.endsWith('.ts');
  return {
    url: new URL(isTs ? './judge-worker.ts' : './judge-worker.js', import.meta.url),
    execArgv: isTs ? ['--import', 'tsx'] : [],
  };
}

export function createJudgePool(opts: JudgePoolOptions): JudgePool {
  const entry = workerEntry();
  const queue: Pending[] = [];
  let seq = 0;
  let isClosed = false;
  const log = opts.log.child({ component: 'judge-pool' });

  const spawn = (): Slot => {
    const worker = new Worker(entry.url, { workerData: { compare: opts.compare }, execArgv: entry.execArgv });
    const slot: Slot = { worker, busy: undefined };
    worker.unref();
    worker.on('message', (msg: JudgeTaskResult) => {
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
      // Replace the dead worker so the pool keeps its size.
      const i = slots.indexOf(slot);
      if (i !== -1) {
        const fresh = spawn();
        slots[i] = fresh;
        next(fresh);
      }
    });
    return slot;
  };

  const slots: Slot[] = Array.from({ length: Math.max(1, opts.workers) }, spawn);

  const next = (slot: Slot) => {
    if (slot.busy !== undefined || isClosed) return;
    const p = queue.shift();
    if (p === undefined) return;
    slot.busy = p;
    slot.worker.postMessage(p.task);
  };

  return {
    compare(baseline, candidate, endpoint) {
      if (isClosed) return undefined;
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
