import { beforeAll, describe, expect, it } from 'vitest';
import type { PgQueryRequest, PgQueryResponse, TxStatus } from '../../../../src/core/exchange.js';
import { isRefusedInFailedTx, txStatusAfterServed } from '../../../../src/mock/pg/tx.js';
import type { PgEntry } from '../../../../src/mock/pg/statement-index.js';
import type { BackendEvent } from '../../../../src/protocols/pg/backend-decoder.js';
import type { FrontendMessage } from '../../../../src/protocols/pg/frontend-decoder.js';
import { PgRecordSession, type RecordedPg } from '../../../../src/protocols/pg/record-session.js';
import { analyzeSqlUncached, loadSqlParser } from '../../../../src/protocols/pg/sql-normalizer.js';
import { isAllowedInFailedTx, txEffectOf, txStatusAfter } from '../../../../src/protocols/pg/tx-status.js';

describe('txEffectOf reads what a statement does to the transaction block', () => {
  it.each([
    ['BEGIN', 'begin'],
    ['begin isolation level serializable', 'begin'],
    ['BEGIN WORK', 'begin'],
    ['START TRANSACTION READ ONLY', 'begin'],
    ['COMMIT', 'commit'],
    ['commit work', 'commit'],
    ['END', 'commit'],
    ['END TRANSACTION', 'commit'],
    ['COMMIT AND NO CHAIN', 'commit'],
    ['COMMIT AND CHAIN', 'chain'],
    ['END WORK AND CHAIN', 'chain'],
    ['ROLLBACK', 'rollback'],
    ['ABORT', 'rollback'],
    ['ROLLBACK TRANSACTION', 'rollback'],
    ['ROLLBACK AND CHAIN', 'chain'],
    ['ROLLBACK TO SAVEPOINT "before_dup"', 'rollbackTo'],
    ['rollback to s1', 'rollbackTo'],
    ['ROLLBACK WORK TO SAVEPOINT s1', 'rollbackTo'],
    ['PREPARE TRANSACTION \'gx\'', 'prepareTransaction'],
    ['COMMIT PREPARED \'gx\'', 'none'],
    ['ROLLBACK PREPARED \'gx\'', 'none'],
    ['PREPARE q AS SELECT 1', 'none'],
    ['START_REPLICATION', 'none'],
    ['SAVEPOINT s1', 'none'],
    ['RELEASE SAVEPOINT s1', 'none'],
    ['SELECT 1/0', 'none'],
    ['/* a /* nested */ comment */ -- and a line\n  BEGIN', 'begin'],
    ['  \n\tcommit /*traceparent=\'00-x\'*/', 'commit'],
    ['', 'none'],
    ['(SELECT 1)', 'none'],
  ])('%j -> %s', (sql, effect) => {
    expect(txEffectOf(sql)).toBe(effect);
  });
});

describe('txStatusAfter gives the status Postgres reports after the statement', () => {
  const cases: Array<[string, TxStatus, string, string | undefined, TxStatus]> = [
    ['BEGIN', 'I', 'BEGIN', undefined, 'T'],
    ['BEGIN inside a block (a warning)', 'T', 'BEGIN', undefined, 'T'],
    ['START TRANSACTION', 'I', 'START TRANSACTION', undefined, 'T'],
    ['COMMIT', 'T', 'COMMIT', undefined, 'I'],
    ['END', 'T', 'END', undefined, 'I'],
    ['COMMIT of a failed transaction, answered ROLLBACK', 'E', 'COMMIT', undefined, 'I'],
    ['COMMIT outside a block (a warning)', 'I', 'COMMIT', undefined, 'I'],
    ['ROLLBACK', 'T', 'ROLLBACK', undefined, 'I'],
    ['ROLLBACK of a failed transaction', 'E', 'ROLLBACK', undefined, 'I'],
    ['ABORT', 'E', 'ABORT', undefined, 'I'],
    ['ROLLBACK TO SAVEPOINT out of a failed transaction', 'E', 'ROLLBACK TO SAVEPOINT s1', undefined, 'T'],
    ['ROLLBACK TO SAVEPOINT in a good one', 'T', 'ROLLBACK TO s1', undefined, 'T'],
    ['ROLLBACK TO a savepoint that does not exist', 'T', 'ROLLBACK TO SAVEPOINT nope', '3B001', 'E'],
    ['SAVEPOINT', 'T', 'SAVEPOINT s1', undefined, 'T'],
    ['SAVEPOINT outside a block', 'I', 'SAVEPOINT s1', '25P01', 'I'],
    ['RELEASE', 'T', 'RELEASE SAVEPOINT s1', undefined, 'T'],
    ['RELEASE in a failed transaction', 'E', 'RELEASE s1', '25P02', 'E'],
    ['COMMIT AND CHAIN', 'T', 'COMMIT AND CHAIN', undefined, 'T'],
    ['COMMIT AND CHAIN of a failed transaction', 'E', 'COMMIT AND CHAIN', undefined, 'T'],
    ['ROLLBACK AND CHAIN outside a block', 'I', 'ROLLBACK AND CHAIN', '25P01', 'I'],
    ['a COMMIT a deferred constraint fails', 'T', 'COMMIT', '23505', 'I'],
    ['a COMMIT AND CHAIN a deferred constraint fails', 'T', 'COMMIT AND CHAIN', '23505', 'I'],
    ['a COMMIT with a syntax error never ran', 'T', 'COMMIT garbage', '42601', 'E'],
    ['PREPARE TRANSACTION', 'T', "PREPARE TRANSACTION 'g'", undefined, 'I'],
    ['PREPARE TRANSACTION refused', 'T', "PREPARE TRANSACTION 'g'", '55000', 'I'],
    ['an error inside a block', 'T', 'SELECT 1/0', '22012', 'E'],
    ['an error outside a block', 'I', 'SELECT 1/0', '22012', 'I'],
    ['a unique violation inside a block', 'T', 'INSERT INTO t VALUES (1)', '23505', 'E'],
    ['any statement in a failed transaction', 'E', 'SELECT 1', '25P02', 'E'],
    ['BEGIN in a failed transaction', 'E', 'BEGIN', '25P02', 'E'],
    ['a statement inside a block', 'T', 'SELECT 1', undefined, 'T'],
    ['a statement outside a block', 'I', 'SELECT 1', undefined, 'I'],
  ];
  it.each(cases)('%s: %s -> %s', (_name, before, sql, code, after) => {
    expect(txStatusAfter(before, txEffectOf(sql), code)).toBe(after);
  });

  it('lets only transaction-ending statements and ROLLBACK TO run in a failed block', () => {
    for (const sql of ['COMMIT', 'END', 'ROLLBACK', 'ABORT', 'ROLLBACK TO s1', 'COMMIT AND CHAIN', "PREPARE TRANSACTION 'g'"]) {
      expect(isAllowedInFailedTx(txEffectOf(sql)), sql).toBe(true);
    }
    for (const sql of ['SELECT 1', 'BEGIN', 'SAVEPOINT s1', 'RELEASE s1', "COMMIT PREPARED 'g'"]) {
      expect(isAllowedInFailedTx(txEffectOf(sql)), sql).toBe(false);
    }
  });
});

/** One statement sent as pgjdbc sends it in a batch: Parse, Bind, Describe portal, Execute. */
function extended(sql: string): FrontendMessage[] {
  return [
    { type: 'parse', name: '', sql, paramTypes: [] },
    { type: 'bind', portal: '', statement: '', paramFormats: [], params: [], resultFormats: [] },
    { type: 'describe', target: 'P', name: '' },
    { type: 'execute', portal: '', maxRows: 1 },
  ];
}

/** What the server answers to `extended(sql)`: success with `tag`, or an error at Execute. */
function answer(outcome: { tag: string } | { code: string }): BackendEvent[] {
  const head: BackendEvent[] = [{ type: 'parseComplete' }, { type: 'bindComplete' }, { type: 'noData' }];
  if ('tag' in outcome) return [...head, { type: 'commandComplete', tag: outcome.tag }];
  return [...head, { type: 'error', fields: { severity: 'ERROR', code: outcome.code, message: 'failed' } }];
}

function session(): { s: PgRecordSession; recorded: RecordedPg[] } {
  const recorded: RecordedPg[] = [];
  const s = new PgRecordSession({ connection: 'c-1', emit: (r) => recorded.push(r) });
  s.onFrontend({ type: 'startup', major: 3, minor: 0, parameters: { user: 'u' }, raw: Buffer.alloc(0) }, 0);
  s.onBackend({ type: 'readyForQuery', status: 'I' }, 0);
  return { s, recorded };
}

function statuses(recorded: RecordedPg[]): Array<[string, string | undefined, TxStatus | undefined]> {
  return recorded
    .filter((r) => r.payload.request.kind !== 'startup')
    .map((r) => [(r.payload.request as PgQueryRequest).sql, (r.payload.response as PgQueryResponse).error?.code, r.payload.response.txStatus]);
}

describe('the record session gives each statement of one Sync batch the status it left', () => {
  it('a BEGIN pipelined with a failing statement is T, the failing statement E', () => {
    const { s, recorded } = session();
    for (const m of [...extended('BEGIN'), ...extended('SELECT 1/0'), ...extended('SELECT 2'), { type: 'sync' } as const]) s.onFrontend(m, 1);
    // The server skips SELECT 2 after the error, up to the Sync.
    for (const ev of [...answer({ tag: 'BEGIN' }), ...answer({ code: '22012' }), { type: 'readyForQuery', status: 'E' } as const]) s.onBackend(ev, 2);
    expect(statuses(recorded)).toEqual([
      ['BEGIN', undefined, 'T'],
      ['SELECT 1/0', '22012', 'E'],
    ]);
  });

  it('follows savepoints, ROLLBACK TO and COMMIT across batches from the status the last batch ended in', () => {
    const { s, recorded } = session();
    const batch1 = ['BEGIN', 'INSERT INTO t VALUES (1)', 'SAVEPOINT s1', 'INSERT INTO t VALUES (1)'];
    for (const sql of batch1) for (const m of extended(sql)) s.onFrontend(m, 1);
    s.onFrontend({ type: 'sync' }, 1);
    for (const ev of [
      ...answer({ tag: 'BEGIN' }),
      ...answer({ tag: 'INSERT 0 1' }),
      ...answer({ tag: 'SAVEPOINT' }),
      ...answer({ code: '23505' }),
      { type: 'readyForQuery', status: 'E' } as const,
    ]) {
      s.onBackend(ev, 2);
    }
    for (const sql of ['ROLLBACK TO SAVEPOINT s1', 'RELEASE SAVEPOINT s1', 'COMMIT']) for (const m of extended(sql)) s.onFrontend(m, 3);
    s.onFrontend({ type: 'sync' }, 3);
    for (const ev of [...answer({ tag: 'ROLLBACK' }), ...answer({ tag: 'RELEASE' }), ...answer({ tag: 'COMMIT' }), { type: 'readyForQuery', status: 'I' } as const]) {
      s.onBackend(ev, 4);
    }
    expect(statuses(recorded)).toEqual([
      ['BEGIN', undefined, 'T'],
      ['INSERT INTO t VALUES (1)', undefined, 'T'],
      ['SAVEPOINT s1', undefined, 'T'],
      ['INSERT INTO t VALUES (1)', '23505', 'E'],
      ['ROLLBACK TO SAVEPOINT s1', undefined, 'T'],
      ['RELEASE SAVEPOINT s1', undefined, 'T'],
      ['COMMIT', undefined, 'I'],
    ]);
  });

  it('keeps the ReadyForQuery status of a simple Query, which answers it alone', () => {
    const { s, recorded } = session();
    s.onFrontend({ type: 'query', sql: 'BEGIN; SELECT 1/0' }, 1);
    for (const ev of [
      { type: 'commandComplete', tag: 'BEGIN' },
      { type: 'error', fields: { severity: 'ERROR', code: '22012', message: 'division by zero' } },
      { type: 'readyForQuery', status: 'E' },
    ] as BackendEvent[]) {
      s.onBackend(ev, 2);
    }
    expect(statuses(recorded)).toEqual([['BEGIN; SELECT 1/0', '22012', 'E']]);
  });
});

describe('the mock derives its transaction state from the served statement', () => {
  beforeAll(async () => {
    await loadSqlParser();
  });

  function entry(kind: 'simple' | 'extended', sql: string, txStatus: TxStatus, code?: string): PgEntry {
    return {
      id: 'x',
      connection: 'c',
      seq: 1,
      request: { kind, sql },
      response: { results: [], error: code === undefined ? null : { severity: 'ERROR', code, message: 'failed' }, notices: [], txStatus },
      errorPhase: undefined,
      isUsed: false,
      shape: undefined,
      traceId: undefined,
    };
  }
  const served = (before: TxStatus, e: PgEntry) => txStatusAfterServed(before, analyzeSqlUncached(e.request.sql), e);

  it('a pipelined BEGIN an older recorder stored with its batch final status E opens a good transaction', () => {
    expect(served('I', entry('extended', 'BEGIN', 'E'))).toBe('T');
    expect(served('T', entry('extended', 'SELECT 1/0', 'E', '22012'))).toBe('E');
    expect(served('E', entry('extended', 'ROLLBACK', 'I'))).toBe('I');
  });

  it('a statement recorded outside a transaction fails the transaction it is served in', () => {
    expect(served('T', entry('extended', 'INSERT INTO t VALUES (1)', 'I', '23505'))).toBe('E');
    expect(served('T', entry('simple', 'SELECT 1', 'I'))).toBe('T');
  });

  it('a simple Query of several statements with transaction commands takes its recorded status', () => {
    expect(served('I', entry('simple', 'BEGIN; INSERT INTO t VALUES (1); SELECT 1/0', 'E', '22012'))).toBe('E');
    expect(served('T', entry('simple', 'SELECT 1; COMMIT', 'I'))).toBe('I');
  });

  it('refuses in a failed block what Postgres refuses there', () => {
    expect(isRefusedInFailedTx(analyzeSqlUncached('SELECT 1'))).toBe(true);
    expect(isRefusedInFailedTx(analyzeSqlUncached('RELEASE SAVEPOINT a'))).toBe(true);
    expect(isRefusedInFailedTx(analyzeSqlUncached('/* c */ ROLLBACK TO SAVEPOINT a'))).toBe(false);
    expect(isRefusedInFailedTx(analyzeSqlUncached('commit'))).toBe(false);
  });
});
