/**
 * The transaction status (ReadyForQuery's I / T / E) a statement leaves
 * behind, derived from what the statement is and whether it failed.
 *
 * A client may send several statements before one Sync (pgjdbc sends BEGIN
 * in the same batch as the first statement of a transaction), and only the
 * batch's last ReadyForQuery carries a status (PostgreSQL docs, "Extended
 * Query": ReadyForQuery answers Sync). The statements before the last one
 * get the status they really left, from these rules; the record session and
 * the mock's transaction model share them.
 *
 * The rules follow xact.c as observed on the server:
 * - BEGIN / START TRANSACTION -> T (inside a block: a warning, still T).
 * - COMMIT / END / ROLLBACK / ABORT / PREPARE TRANSACTION -> I. COMMIT of a
 *   failed transaction rolls it back (command tag ROLLBACK) and also ends in I.
 * - ... AND CHAIN -> T: a new transaction starts at once, even after a failed one.
 * - ROLLBACK TO SAVEPOINT -> T, also out of a failed transaction.
 * - SAVEPOINT / RELEASE and every other statement leave the status as it was.
 * - An error inside a block -> E; outside one (I) the implicit transaction is
 *   rolled back and the status stays I. A COMMIT that fails while running
 *   (a deferred constraint, a serialization failure) still ends the block: I.
 *   A statement that never ran (class 42: syntax, undefined object) is an
 *   ordinary error whatever its keywords.
 */
import type { TxStatus } from '../../core/exchange.js';

/** What a statement does to the transaction block. */
export type TxEffect = 'none' | 'begin' | 'commit' | 'rollback' | 'rollbackTo' | 'chain' | 'prepareTransaction';

/** Lower-cased first command keyword of the statements that can have an effect other than 'none'. */
export const TX_KEYWORDS: ReadonlySet<string> = new Set(['begin', 'start', 'commit', 'end', 'rollback', 'abort', 'prepare']);

/** The failed-transaction error, which leaves a failed block failed. */
const IN_FAILED_TRANSACTION = '25P02';

/** Up to `max` leading words of `sql`, lower-cased, skipping whitespace and comments; stops at anything else. */
function leadingWords(sql: string, max: number): string[] {
  const words: string[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n && words.length < max) {
    const ch = sql.charCodeAt(i);
    if (ch === 0x20 || (ch >= 0x09 && ch <= 0x0d)) {
      i++;
    } else if (ch === 0x2d && sql.charCodeAt(i + 1) === 0x2d) {
      const eol = sql.indexOf('\n', i);
      i = eol < 0 ? n : eol + 1;
    } else if (ch === 0x2f && sql.charCodeAt(i + 1) === 0x2a) {
      // C-style comments nest in PostgreSQL (PostgreSQL docs, "Lexical Structure: Comments").
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (sql.startsWith('/*', i)) {
          depth++;
          i += 2;
        } else if (sql.startsWith('*/', i)) {
          depth--;
          i += 2;
        } else {
          i++;
        }
      }
    } else {
      const m = /^[A-Za-z_]+/.exec(sql.slice(i, i + 32));
      if (m === null) break;
      words.push(m[0].toLowerCase());
      i += m[0].length;
    }
  }
  return words;
}

/** The transaction effect of the first statement of `sql`. */
export function txEffectOf(sql: string): TxEffect {
  const w = leadingWords(sql, 6);
  const first = w[0];
  if (first === undefined || !TX_KEYWORDS.has(first)) return 'none';
  switch (first) {
    case 'begin':
      return 'begin';
    case 'start':
      return w[1] === 'transaction' ? 'begin' : 'none';
    case 'prepare':
      return w[1] === 'transaction' ? 'prepareTransaction' : 'none';
    default:
      break;
  }
  // COMMIT | END | ROLLBACK | ABORT [WORK | TRANSACTION] [AND [NO] CHAIN], ROLLBACK [...] TO [SAVEPOINT] name
  let k = 1;
  // COMMIT PREPARED / ROLLBACK PREPARED run outside a transaction block and leave it as it was.
  if (w[k] === 'prepared') return 'none';
  if (w[k] === 'work' || w[k] === 'transaction') k++;
  const isRollback = first === 'rollback' || first === 'abort';
  if (isRollback && w[k] === 'to') return 'rollbackTo';
  if (w[k] === 'and' && w[k + 1] === 'chain') return 'chain';
  return isRollback ? 'rollback' : 'commit';
}

/**
 * The status after a statement with `effect` ran in status `before` and
 * ended with SQLSTATE `errorCode` (undefined when it succeeded).
 */
export function txStatusAfter(before: TxStatus, effect: TxEffect, errorCode?: string): TxStatus {
  if (errorCode !== undefined) {
    const didRun = !errorCode.startsWith('42') && errorCode !== IN_FAILED_TRANSACTION;
    if (didRun && (effect === 'commit' || effect === 'rollback' || effect === 'chain' || effect === 'prepareTransaction')) return 'I';
    return before === 'I' ? 'I' : 'E';
  }
  switch (effect) {
    case 'none':
      return before;
    case 'begin':
    case 'chain':
    case 'rollbackTo':
      return 'T';
    case 'commit':
    case 'rollback':
    case 'prepareTransaction':
      return 'I';
    default: {
      const never: never = effect;
      return never;
    }
  }
}

/** Statements the server still runs inside a failed block; every other one gets 25P02. */
export function isAllowedInFailedTx(effect: TxEffect): boolean {
  return effect === 'commit' || effect === 'rollback' || effect === 'rollbackTo' || effect === 'chain' || effect === 'prepareTransaction';
}
