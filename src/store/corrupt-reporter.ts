import type { Logger } from '../core/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { CorruptRecord } from './types.js';

/**
 * The one way a reader's skipped records become visible: counted in
 * doppel_store_corrupt_lines_total and logged with file:line, the read goes on.
 */
export function createCorruptReporter(metrics: Metrics, log: Logger): { onCorrupt: (r: CorruptRecord) => void; readonly count: number } {
  let count = 0;
  return {
    onCorrupt(r) {
      count++;
      metrics.storeCorruptLines.inc();
      log.warn({ source: r.source, line: r.line, tail: r.isTail }, `skipped unreadable record at ${r.source}:${r.line}: ${r.reason}`);
    },
    get count() {
      return count;
    },
  };
}
