/**
 * Holds back a chunked request body before anything is sent upstream, so that
 * a request whose framing turns out malformed (bad chunk size, chunk data
 * longer than its size, oversized extensions, a forbidden trailer) reaches the
 * origin not at all.
 *
 * A Content-Length body cannot be malformed after the head (its bytes are
 * opaque), so only chunked bodies are held. Holding everything would end
 * streaming and put whole uploads in memory, so the hold is bounded: the body
 * is released whole once it ends, or as a stream once it outgrows `maxBytes`
 * or takes longer than `maxMs`. Past that point a framing error can only
 * abort the upstream request mid-body: the upstream connection is cut before
 * the terminating chunk, so the origin sees an incomplete request, never a
 * complete one (what nginx does with `proxy_request_buffering off`).
 */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';

export interface ChunkedHoldLimits {
  maxBytes: number;
  maxMs: number;
}

/** Default bounds: small bodies (the common case) are checked whole; uploads stream after 64 KiB or 250 ms. */
export const CHUNKED_HOLD: ChunkedHoldLimits = { maxBytes: 64 * 1024, maxMs: 250 };

/**
 * Body ready to forward: a Buffer when the request ended within the hold (sent
 * upstream with a Content-Length), else a stream of the held chunks then
 * the rest of the request (sent chunked, streaming, with backpressure).
 */
export type HeldBody = Buffer | Readable;

/** Starts holding; `release` runs once. The returned function cancels (request refused). */
export function holdChunkedBody(req: IncomingMessage, limits: ChunkedHoldLimits, release: (body: HeldBody) => void): () => void {
  const held: Buffer[] = [];
  let size = 0;
  let settled = false;
  const stop = (): boolean => {
    if (settled) return false;
    settled = true;
    clearTimeout(timer);
    req.off('data', onData);
    req.off('end', onEnd);
    return true;
  };
  const stream = () => {
    if (!stop()) return;
    req.pause();
    release(Readable.from(restOf(held, req), { objectMode: false }));
  };
  const onData = (chunk: Buffer) => {
    held.push(chunk);
    size += chunk.length;
    if (size > limits.maxBytes) stream();
  };
  const onEnd = () => {
    if (stop()) release(held.length === 1 ? (held[0] as Buffer) : Buffer.concat(held, size));
  };
  const timer = setTimeout(stream, limits.maxMs);
  req.on('data', onData);
  req.once('end', onEnd);
  return () => {
    stop();
  };
}

async function* restOf(held: Buffer[], req: IncomingMessage): AsyncGenerator<Buffer> {
  yield* held;
  held.length = 0;
  // A request cut short (socket closed, parse error) ends this iteration with an error,
  // which makes the upstream client abort instead of sending the terminating chunk.
  for await (const chunk of req) yield chunk as Buffer;
}
