/**
 * Sends replayed requests to one target over HTTP/1.1 (undici Pool; HTTP/2
 * and gRPC are out of scope). Reads each response body up to a byte cap and
 * drains the rest so the connection stays reusable.
 */
import { Pool } from 'undici';
import type { HeaderPairs } from '../core/exchange.js';
import type { ResponseSample } from '../compare/types.js';
import type { OutgoingRequest } from './request-builder.js';

export type SendOutcome =
  | { ok: true; sample: ResponseSample & { durationMs: number }; isTruncated: boolean }
  | { ok: false; error: { code: string; message: string }; durationMs: number; isCancelled: boolean };

export interface HttpSender {
  readonly origin: string;
  send(req: OutgoingRequest, signal?: AbortSignal): Promise<SendOutcome>;
  close(): Promise<void>;
}

export interface HttpSenderOptions {
  /** base URL; a path prefix (http://host/api) is kept in front of every request path */
  target: string;
  connections: number;
  insecure: boolean;
  timeoutMs: number;
  maxBodyBytes: number;
  now: () => number;
}

function toPairs(headers: Record<string, string | string[] | undefined>): HeaderPairs {
  const out: HeaderPairs = [];
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out.push([k, x]);
    else out.push([k, v]);
  }
  return out;
}

export function createHttpSender(opts: HttpSenderOptions): HttpSender {
  const url = new URL(opts.target);
  const prefix = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  const pool = new Pool(url.origin, {
    connections: opts.connections,
    pipelining: 1,
    headersTimeout: opts.timeoutMs,
    bodyTimeout: opts.timeoutMs,
    connect: { rejectUnauthorized: !opts.insecure, timeout: Math.min(opts.timeoutMs, 10_000) },
  });
  return {
    origin: url.origin,
    async send(req, signal) {
      const start = opts.now();
      try {
        const res = await pool.request({
          method: req.method,
          path: prefix + req.path,
          headers: req.headers,
          body: req.body ?? null,
          ...(signal === undefined ? {} : { signal }),
        });
        const chunks: Buffer[] = [];
        let size = 0;
        let isTruncated = false;
        for await (const chunk of res.body as AsyncIterable<Buffer>) {
          if (size >= opts.maxBodyBytes) {
            isTruncated = true;
            continue;
          }
          const room = opts.maxBodyBytes - size;
          if (chunk.length > room) {
            chunks.push(chunk.subarray(0, room));
            size += room;
            isTruncated = true;
          } else {
            chunks.push(chunk);
            size += chunk.length;
          }
        }
        const durationMs = opts.now() - start;
        const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
        return { ok: true, sample: { status: res.statusCode, headers: toPairs(res.headers), body, durationMs }, isTruncated };
      } catch (err) {
        const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
        const code = e.code ?? e.cause?.code ?? e.name;
        return {
          ok: false,
          error: { code: String(code), message: e.message },
          durationMs: opts.now() - start,
          isCancelled: signal?.aborted === true,
        };
      }
    },
    async close() {
      await pool.destroy();
    },
  };
}
