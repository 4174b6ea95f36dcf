/**
 * The record proxy's HTTP/2 upstream: requests that arrived over HTTP/2 go
 * on over HTTP/2, one stream each (RFC 9113 §5), so a held stream never
 * delays another.
 */
import { Pool } from 'undici';
import type { TargetTls } from '../core/tls.js';
import { http2PoolOptions } from '../core/http2-headers.js';

export interface Http2PoolOptions {
  upstreamMs: number;
  targetTls?: TargetTls | undefined;
}

/**
 * A pool that speaks HTTP/2 to the origin: by ALPN over TLS, by prior
 * knowledge (h2c) in clear text. Each stream is its own request, so one the
 * origin holds never delays another on the same connection.
 */
export function createHttp2Pool(origin: string, opts: Http2PoolOptions): Pool {
  return new Pool(origin, {
    ...http2PoolOptions(origin, { timeout: Math.min(opts.upstreamMs, 10_000), ...opts.targetTls }),
    headersTimeout: opts.upstreamMs,
    bodyTimeout: opts.upstreamMs,
    keepAliveTimeout: 4_000,
  });
}
