/**
 * Worker thread of the judge pool: builds the comparator from the compare
 * config once, then compares the pairs it is sent. Large JSON bodies are
 * parsed and walked here, never on the event loop that serves the primary.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createComparator } from '../compare/comparator.js';
import { lowerThreadPriority } from '../core/thread-priority.js';
import type { ResolvedCompare } from '../config/resolve.js';
import type { JudgeTask, JudgeTaskResult } from './judge-pool.js';

const comparator = createComparator((workerData as { compare: ResolvedCompare }).compare);
lowerThreadPriority();

parentPort?.on('message', (task: JudgeTask) => {
  let reply: JudgeTaskResult;
  try {
    // Buffers arrive as Uint8Arrays after structured cloning.
    const baseline = { ...task.baseline, body: Buffer.from(task.baseline.body.buffer, task.baseline.body.byteOffset, task.baseline.body.byteLength) };
    const candidate = { ...task.candidate, body: Buffer.from(task.candidate.body.buffer, task.candidate.body.byteOffset, task.candidate.body.byteLength) };
    reply = { seq: task.seq, outcome: comparator.compare(baseline, candidate, task.endpoint) };
  } catch (err) {
    reply = { seq: task.seq, error: (err as Error).message };
  }
  parentPort?.postMessage(reply);
});
