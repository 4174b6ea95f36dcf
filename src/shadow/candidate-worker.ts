/**
 * Worker thread of the threaded candidate client: owns the undici pool to the
 * candidate, so the copies' socket writes, reads and HTTP parsing happen on
 * this thread and never between two of the primary's requests.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { lowerThreadPriority } from '../core/thread-priority.js';
import { createCandidateClient, type CandidateClientOptions } from './candidate-client.js';
import { CandidateCallError } from './types.js';
import type { CandidateThreadReply, CandidateThreadRequest } from './candidate-thread.js';

const client = createCandidateClient(workerData as CandidateClientOptions);
lowerThreadPriority();

/** A standalone copy: a Buffer from a socket read is a view of a larger block that would be cloned whole. */
function exact(b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(b.byteLength);
  out.set(b);
  return out;
}

parentPort?.on('message', (m: CandidateThreadRequest) => {
  const body = m.body === null ? null : Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength);
  client.send({ method: m.method, url: m.url, headers: m.headers, body }).then(
    (r) => {
      const copy = exact(r.body);
      const reply: CandidateThreadReply = { seq: m.seq, status: r.status, headers: r.headers, body: copy, durationMs: r.durationMs };
      parentPort?.postMessage(reply, [copy.buffer]);
    },
    (err: unknown) => {
      const e = err instanceof CandidateCallError ? err : new CandidateCallError('candidate_error', 'UNKNOWN', (err as Error).message);
      const reply: CandidateThreadReply = { seq: m.seq, reason: e.reason, code: e.code, message: e.message, closedForMs: client.closedForMs() };
      parentPort?.postMessage(reply);
    },
  );
});
