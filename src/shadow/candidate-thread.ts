/**
 * The candidate client on a worker thread. Sending a copy and reading the
 * candidate's answer is most of a copy's cost (a socket write, reads, HTTP
 * parsing); on the thread that serves the primary it lands between the
 * primary's requests and shows in their tail latency. Here the main thread
 * pays one message each way per copy; the worker runs the same client as
 * the inline one (candidate-client.ts), so timeouts, body caps and the
 * refused-connection back-off behave identically.
 */
import type { Worker } from 'node:worker_threads';
import type { HeaderPairs } from '../core/exchange.js';
import type { Logger } from '../core/logger.js';
import { spawnModuleWorker } from '../core/module-worker.js';
import type { CandidateClientOptions } from './candidate-client.js';
import { CandidateCallError, type CandidateClient, type CandidateFailure, type CandidateRequest, type CandidateResponse } from './types.js';

export interface CandidateThreadRequest {
  seq: number;
  method: string;
  url: string;
  headers: readonly string[];
  body: Uint8Array | null;
}

export type CandidateThreadReply =
  | { seq: number; status: number; headers: HeaderPairs; body: Uint8Array; durationMs: number }
  | { seq: number; reason: CandidateFailure; code: string; message: string; closedForMs: number };

interface Waiter {
  resolve: (r: CandidateResponse) => void;
  reject: (e: unknown) => void;
}

function exact(chunk: Buffer): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(chunk.byteLength);
  out.set(chunk);
  return out;
}

export function createThreadedCandidateClient(opts: CandidateClientOptions & { log: Logger }): CandidateClient {
  const { log, ...clientOpts } = opts;
  const waiting = new Map<number, Waiter>();
  let seq = 0;
  let closedUntil = 0;
  let isClosed = false;
  let worker: Worker = start();

  function start(): Worker {
    const w = spawnModuleWorker(import.meta.url, 'candidate-worker', clientOpts);
    w.unref();
    w.on('message', (m: CandidateThreadReply) => {
      const waiter = waiting.get(m.seq);
      if (waiter === undefined) return;
      waiting.delete(m.seq);
      if ('status' in m) {
        waiter.resolve({ status: m.status, headers: m.headers, body: Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength), durationMs: m.durationMs });
        return;
      }
      if (m.closedForMs > 0) closedUntil = performance.now() + m.closedForMs;
      waiter.reject(new CandidateCallError(m.reason, m.code, m.message));
    });
    w.on('error', (err) => {
      log.error({ err }, 'candidate client thread failed');
      failAll('candidate client thread failed');
      // Copies keep going to a fresh thread: one crash must not end shadowing.
      if (!isClosed) worker = start();
    });
    return w;
  }

  function failAll(message: string): void {
    for (const w of waiting.values()) w.reject(new CandidateCallError('candidate_error', 'DOPPEL_THREAD', message));
    waiting.clear();
  }

  return {
    send(req: CandidateRequest): Promise<CandidateResponse> {
      if (isClosed) return Promise.reject(new CandidateCallError('candidate_error', 'DOPPEL_CLOSED', 'candidate client closed'));
      const n = ++seq;
      const body = req.body === null ? null : exact(req.body);
      const msg: CandidateThreadRequest = { seq: n, method: req.method, url: req.url, headers: req.headers, body };
      return new Promise<CandidateResponse>((resolve, reject) => {
        waiting.set(n, { resolve, reject });
        worker.postMessage(msg, body === null ? [] : [body.buffer]);
      });
    },
    isAvailable: () => closedUntil === 0 || performance.now() >= closedUntil,
    async close() {
      isClosed = true;
      failAll('candidate client closed');
      await worker.terminate();
    },
  };
}
