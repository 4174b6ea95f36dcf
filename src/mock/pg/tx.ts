/**
 * The mock's transaction model: the status a served recording leaves a
 * client connection in is derived from the statement and its recorded
 * outcome (protocols/pg/tx-status.ts), not copied from the recording. The
 * recorded status says where the recorded session was, after the whole
 * batch its statement was sent in; recordings made before the record session
 * derived per-statement statuses gave a pipelined BEGIN the status its batch
 * ended in (E when the next statement failed), and they replay correctly too.
 */
import type { TxStatus } from '../../core/exchange.js';
import type { SqlShape } from '../../protocols/pg/sql-normalizer.js';
import { isAllowedInFailedTx, txEffectOf, txStatusAfter, TX_KEYWORDS, type TxEffect } from '../../protocols/pg/tx-status.js';
import type { PgEntry } from './statement-index.js';

/** The effect of a statement's first command; the common case is one set lookup. */
function effectOfShape(shape: SqlShape): TxEffect {
  return TX_KEYWORDS.has(shape.commands[0] ?? '') ? txEffectOf(shape.shape) : 'none';
}

/** The status after serving `entry` (whose SQL has `shape`) to a connection in status `before`. */
export function txStatusAfterServed(before: TxStatus, shape: SqlShape, entry: PgEntry): TxStatus {
  if (entry.request.kind === 'simple' && shape.commands.length > 1 && shape.commands.some((c) => TX_KEYWORDS.has(c))) {
    // A simple Query gets a ReadyForQuery of its own, so its recorded status is
    // exact, and with several statements it alone says which of them failed.
    return entry.response.txStatus;
  }
  return txStatusAfter(before, effectOfShape(shape), entry.response.error?.code);
}

/** True when the server refuses `shape` in a failed transaction block with 25P02. */
export function isRefusedInFailedTx(shape: SqlShape): boolean {
  return !isAllowedInFailedTx(effectOfShape(shape));
}
