/**
 * Where passthrough exchanges go: into the index, so the next identical
 * statement is served from it, and to the writer when one is given. Writes
 * are not awaited by the client's path; close waits for those in flight.
 */
import type { Logger } from '../../core/logger.js';
import type { Metrics } from '../../metrics/metrics.js';
import { toPgExchange, type RecordedPg } from '../../protocols/pg/record-session.js';
import type { ExchangeWriter } from '../../store/types.js';
import type { PgEntry, PgIndex } from './statement-index.js';

export interface PassthroughStore {
  store(rec: RecordedPg): PgEntry;
  /** resolves when every write started so far has settled */
  settled(): Promise<void>;
}

export interface PassthroughStoreDeps {
  service: string;
  index: PgIndex;
  recordTo: ExchangeWriter | undefined;
  metrics: Metrics;
  log: Logger;
}

export function createPassthroughStore({ service, index, recordTo, metrics, log }: PassthroughStoreDeps): PassthroughStore {
  const appends = new Set<Promise<void>>();
  return {
    store(rec) {
      // The tag the HTTP mock gives its passthrough exchanges too.
      const ex = toPgExchange(rec, service, { ...rec.tags, source: 'mock-passthrough' });
      const entry = index.add(ex) as PgEntry;
      if (recordTo !== undefined) {
        const p = recordTo.append(ex).then(
          () => metrics.exchangesRecorded.inc({ service, direction: 'outbound', protocol: 'pg' }),
          (err: unknown) => {
            metrics.recordDropped.inc({ reason: 'store_error' });
            log.error({ err }, 'cannot record a pg passthrough exchange');
          },
        );
        appends.add(p);
        void p.finally(() => appends.delete(p));
      }
      return entry;
    },
    async settled() {
      await Promise.all([...appends]);
    },
  };
}
