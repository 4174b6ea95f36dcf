/**
 * An open-model, evenly paced load generator: request i is due at
 * t0 + i / rate and latency is measured from that due time (as wrk2 does), so
 * a stall anywhere on the path shows in the tail instead of silently lowering
 * the offered rate.
 *
 * Why not autocannon's `overallRate`: it hands each connection a per-second
 * budget and every connection spends it at the start of the second, so 1000
 * req/s arrives as one burst of 1000 followed by idle time. The p99 then
 * measures how a burst queues, not what one proxy hop costs per request.
 */
import { Pool, type Dispatcher } from 'undici';
import { percentile } from './stats.js';

export interface PacedResult {
  /** requests answered per second of the run */
  rps: number;
  /** latency from the due time, ms */
  p50: number;
  p99: number;
  p999: number;
  max: number;
  /** requests that failed or answered non-2xx */
  errors: number;
  /** requests still unanswered when the run ended plus its grace period */
  unanswered: number;
  /** every answered request's latency (ms), for percentiles pooled over repeats */
  latencies: number[];
}

/** Keep-alive connections a caller keeps across runs (see `pool` below). */
export function pacedPool(url: string, connections: number): Pool {
  return new Pool(new URL(url).origin, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
}

/**
 * `pool`: connections kept across runs, so short interleaved runs measure the
 * path and not connection set-up; the caller closes it. Without it each run
 * opens and closes its own.
 */
export async function pacedLoad(url: string, o: { rate: number; seconds: number; connections: number; path?: string; pool?: Pool | undefined }): Promise<PacedResult> {
  const origin = new URL(url).origin;
  const pool = o.pool ?? pacedPool(url, o.connections);
  const count = Math.round(o.rate * o.seconds);
  const latency = new Float64Array(count).fill(Number.NaN);
  const path = o.path ?? '/orders/42';
  let errors = 0;
  let done = 0;
  let i = 0;
  const t0 = performance.now();
  const dueAt = (n: number) => t0 + (n * 1000) / o.rate;
  await new Promise<void>((resolve) => {
    const finish = () => {
      if (++done === count) resolve();
    };
    const send = (n: number) => {
      let status = 0;
      const handler: Dispatcher.DispatchHandler = {
        onConnect: () => {},
        onHeaders: (s) => {
          status = s;
          return true;
        },
        onData: () => true,
        onComplete: () => {
          latency[n] = performance.now() - dueAt(n);
          if (status < 200 || status >= 300) errors++;
          finish();
        },
        onError: () => {
          errors++;
          finish();
        },
      };
      pool.dispatch({ origin, method: 'GET', path, headers: ['accept', 'application/json'] }, handler);
    };
    const tick = () => {
      const now = performance.now();
      while (i < count && dueAt(i) <= now) send(i++);
      if (i < count) setTimeout(tick, Math.max(0, dueAt(i) - performance.now()));
    };
    tick();
    // A request that never answers must not hang the bench: give up 10 s after the last one was due.
    setTimeout(resolve, o.seconds * 1000 + 10_000).unref();
  });
  const elapsedS = (performance.now() - t0) / 1000;
  if (o.pool === undefined) await pool.destroy();
  const answered = Array.from(latency).filter((x) => !Number.isNaN(x));
  return {
    rps: answered.length / Math.max(o.seconds, elapsedS),
    p50: percentile(answered, 50),
    p99: percentile(answered, 99),
    p999: percentile(answered, 99.9),
    max: answered.length === 0 ? Number.NaN : Math.max(...answered),
    errors,
    unanswered: count - done,
    latencies: answered,
  };
}
