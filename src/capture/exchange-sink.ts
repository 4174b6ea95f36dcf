/**
 * A sink for exchanges built whole on the capture path (gRPC): appends to
 * the store without the caller waiting, with a byte cap on what is handed
 * to the store and not yet written. Over the cap, or while recording is
 * paused, the exchange is dropped and counted (doppel_record_dropped_total).
 */
import type { Exchange } from '../core/exchange.js';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { storeDropReason, type ExchangeWriter } from '../store/types.js';

export interface ExchangeSink {
  /** never blocks; false when dropped (and counted) */
  offer(ex: Exchange): boolean;
  /** resolves when everything offered so far is handed to the store */
  settle(): Promise<void>;
}

export interface ExchangeSinkOptions {
  writer: ExchangeWriter;
  metrics: Metrics;
  log: Logger;
  /** most encoded bytes in flight to the store (record.queue_bytes) */
  maxPendingBytes: number;
  isPaused?: () => boolean;
}

export function createExchangeSink(opts: ExchangeSinkOptions): ExchangeSink {
  let pendingBytes = 0;
  let inFlight = new Set<Promise<void>>();
  let errorLogged = false;
  return {
    offer(ex) {
      if (opts.isPaused?.() === true) {
        opts.metrics.recordDropped.inc({ reason: 'paused' });
        return false;
      }
      // Message bytes are most of an exchange; base64 grows them by a third.
      const size = estimateBytes(ex);
      if (pendingBytes + size > opts.maxPendingBytes) {
        opts.metrics.recordDropped.inc({ reason: 'queue_full' });
        return false;
      }
      pendingBytes += size;
      const p = opts.writer.append(ex).then(
        () => {
          opts.metrics.exchangesRecorded.inc({ service: ex.service, direction: ex.direction, protocol: ex.protocol });
        },
        (err: unknown) => {
          opts.metrics.recordDropped.inc({ reason: storeDropReason(err) });
          if (!errorLogged) {
            errorLogged = true;
            opts.log.error({ err }, 'traffic store write failed: recording drops, proxying goes on');
          }
        },
      ).finally(() => {
        pendingBytes -= size;
        inFlight.delete(p);
      });
      inFlight.add(p);
      return true;
    },
    async settle() {
      const now = inFlight;
      inFlight = new Set(now);
      await Promise.all(now);
    },
  };
}

function estimateBytes(ex: Exchange): number {
  if (ex.protocol !== 'grpc') return 512;
  let n = 512;
  for (const m of ex.grpc.request.messages) n += m.length;
  for (const m of ex.grpc.response?.messages ?? []) n += m.length;
  return n;
}
