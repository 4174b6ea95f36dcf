/**
 * What the mock counts: statements matched, unmatched and passed through
 * (the `doppel_mock_requests_total` metric and the admin API's stats), and
 * the newest unmatched calls with the nearest recording, so a miss explains
 * itself to the client and to GET /api/unmatched.
 */
import type { Logger } from '../../core/logger.js';
import type { Metrics } from '../../metrics/metrics.js';
import { SqlState } from '../../protocols/pg/constants.js';
import { MissError, error, shortSql } from './error-fields.js';
import type { NearestRecorded, PgIndex } from './statement-index.js';
import type { PgUnmatchedCall } from './types.js';

export type ServeResult = 'matched' | 'unmatched' | 'passthrough';

export interface Tally {
  count(result: ServeResult): void;
  /**
   * Counts and keeps an unmatched statement; returns the error that explains
   * it. With `why` the reason is given and no nearest recording is looked up.
   */
  miss(kind: 'simple' | 'extended', sql: string, params: string[], why?: string): MissError;
  counts(): { matched: number; unmatched: number; passthrough: number };
  unmatched(): PgUnmatchedCall[];
}

export interface TallyDeps {
  service: string;
  index: PgIndex;
  metrics: Metrics;
  log: Logger;
  /** how many unmatched calls are kept (oldest forgotten first) */
  maxUnmatched: number;
}

export function createTally({ service, index, metrics, log, maxUnmatched }: TallyDeps): Tally {
  const unmatchedCalls: PgUnmatchedCall[] = [];
  let matched = 0;
  let unmatchedCount = 0;
  let passthroughCount = 0;

  const count = (result: ServeResult): void => {
    metrics.mockRequests.inc({ service, protocol: 'pg', result });
    if (result === 'matched') matched++;
    else if (result === 'passthrough') passthroughCount++;
    else unmatchedCount++;
  };

  function miss(kind: 'simple' | 'extended', sql: string, params: string[], why?: string): MissError {
    count('unmatched');
    const nearest: NearestRecorded | undefined = why === undefined ? index.nearest(sql, params) : undefined;
    const call: PgUnmatchedCall = {
      service,
      protocol: 'pg',
      at: new Date().toISOString(),
      request: { sql, params, kind },
      nearest: nearest ? { sql: nearest.sql, differs: nearest.differs, recordedValues: nearest.recordedValues } : undefined,
    };
    if (unmatchedCalls.length >= maxUnmatched) unmatchedCalls.shift();
    unmatchedCalls.push(call);
    let message = `doppel mock: no recording for statement: ${shortSql(sql)}`;
    if (why !== undefined) message = `doppel mock: ${why}: ${shortSql(sql)}`;
    const fields = error(SqlState.mockUnmatched, message);
    if (nearest) {
      fields.detail = `nearest recorded statement: ${shortSql(nearest.sql)} (differs in ${nearest.differs})`;
    } else if (why === undefined) {
      fields.detail = 'no recorded statement is like it';
    }
    fields.hint = 'record this statement through doppel record, or check the traffic directory given to doppel mock';
    log.debug({ sql: shortSql(sql), nearest: nearest?.sql }, 'pg statement unmatched');
    return new MissError(fields);
  }

  return {
    count,
    miss,
    counts: () => ({ matched, unmatched: unmatchedCount, passthrough: passthroughCount }),
    unmatched: () => [...unmatchedCalls],
  };
}
