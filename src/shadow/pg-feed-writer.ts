/**
 * The record relay's writer in `doppel shadow`: each `pg` exchange the
 * primary's relay decodes is handed to the candidate's Postgres live mock
 * instead of a file. Nothing is stored; the mock bounds what it keeps.
 */
import type { Exchange } from '../core/exchange.js';
import type { PgMock } from '../mock/pg/types.js';
import type { ExchangeWriter } from '../store/types.js';

const done = Promise.resolve();

/** `mock` undefined: the dependency is relayed for the primary only (no candidate port), and exchanges are discarded. */
export function createPgFeedWriter(mock: Pick<PgMock, 'addExchange'> | undefined): ExchangeWriter {
  return {
    append(ex: Exchange): Promise<void> {
      if (mock !== undefined && ex.protocol === 'pg') mock.addExchange(ex);
      return done;
    },
    appendBatch(exchanges: readonly Exchange[]): Promise<void> {
      if (mock !== undefined) for (const ex of exchanges) if (ex.protocol === 'pg') mock.addExchange(ex);
      return done;
    },
    flush: () => done,
    close: () => done,
    bytesWritten: 0,
  };
}
