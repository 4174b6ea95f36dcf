/** The exchange record of a recorded Postgres request. */
import type { PgExchange } from '../../core/exchange.js';
import { newExchangeId } from '../../core/ids.js';
import { isoTime } from '../../core/iso-time.js';
import type { RecordedPg } from './record-types.js';

/** The exchange record of one recorded Postgres request, as `doppel record` and mock passthrough store it. */
export function toPgExchange(rec: RecordedPg, service: string, tags: Record<string, string> = rec.tags): PgExchange {
  const ms = Math.floor(rec.startedAt);
  return {
    v: 1,
    id: newExchangeId(ms),
    session: rec.payload.connection,
    parent: null,
    direction: 'outbound',
    service,
    protocol: 'pg',
    startedAt: isoTime(ms),
    durationMs: Math.round(rec.durationMs * 1000) / 1000,
    tags,
    pg: rec.payload,
  };
}
