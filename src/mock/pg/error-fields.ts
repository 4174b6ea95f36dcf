/**
 * ErrorResponse fields the mock sends, and the exception that carries one
 * out of a message handler: the handler stops, the fields go to the client,
 * and the connection skips to the next Sync as the server does after an
 * error in extended query (PostgreSQL docs, "Extended Query").
 */
import type { PgErrorFields } from '../../core/exchange.js';
import { SqlState } from '../../protocols/pg/constants.js';

export class MissError extends Error {
  readonly fields: PgErrorFields;
  constructor(fields: PgErrorFields) {
    super(fields.message);
    this.fields = fields;
  }
}

export function fatal(code: string, message: string): PgErrorFields {
  return { severity: 'FATAL', code, message };
}

export function error(code: string, message: string, extra: Partial<PgErrorFields> = {}): PgErrorFields {
  return { severity: 'ERROR', code, message, ...extra };
}

/** What the server answers a statement it refuses in a failed transaction block. */
export function inFailedTxError(): PgErrorFields {
  return error(SqlState.inFailedTransaction, 'current transaction is aborted, commands ignored until end of transaction block');
}

/** SQL text short enough for one log line or error message. */
export function shortSql(sql: string): string {
  const s = sql.replace(/\s+/g, ' ').trim();
  return s.length > 200 ? `${s.slice(0, 200)}...` : s;
}
