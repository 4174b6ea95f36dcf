/**
 * pgjdbc, recorded through `doppel record --pg-dep` against the real server
 * and replayed against `doppel mock --pg-dep`, prints the same text: rows and
 * column types over server-side prepared statements and binary transfer,
 * autocommit on and off, errors inside and outside transactions (a statement
 * that fails first in a transaction, where pgjdbc sends BEGIN in its batch,
 * gets its own SQLSTATE; the next one gets 25P02) and savepoints.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Exchange, PgExchange, PgQueryRequest, PgQueryResponse } from '../../src/core/exchange.js';
import { adminSql, removeDir, tempDir, uniqueName } from '../helpers/pg-harness.js';
import { mockThroughCli, readTraffic, recordThroughCli, runProgram, writeTraffic } from '../helpers/pg-driver-harness.js';
import { findExecutable, missingToolMessage, skipOrFail } from '../helpers/services.js';

const PROGRAM = fileURLToPath(new URL('../fixtures/pg/JdbcWorkload.java', import.meta.url));
/** Where Debian's libpostgresql-jdbc-java puts the driver. */
const JDBC_JAR = '/usr/share/java/postgresql.jar';
const java = findExecutable('java');
const missing = java === undefined ? missingToolMessage('java', 'default-jre-headless') : !existsSync(JDBC_JAR) ? missingToolMessage(JDBC_JAR, 'libpostgresql-jdbc-java') : undefined;

const table = uniqueName('doppel_jdbc');

function jdbc(port: number): Promise<string> {
  // UTC: dates print the same whatever the machine's zone.
  return runProgram(java as string, ['-Duser.timezone=UTC', '-cp', JDBC_JAR, PROGRAM, String(port), table]);
}

function queries(exchanges: readonly Exchange[]): Array<{ conn: string; seq: number; sql: string; code: string | undefined; tx: string }> {
  return exchanges
    .filter((e): e is PgExchange => e.protocol === 'pg' && e.pg.request.kind !== 'startup')
    .map((e) => ({
      conn: e.pg.connection,
      seq: e.pg.seq,
      sql: (e.pg.request as PgQueryRequest).sql,
      code: (e.pg.response as PgQueryResponse).error?.code,
      tx: (e.pg.response as PgQueryResponse).txStatus,
    }))
    .sort((a, b) => (a.conn === b.conn ? a.seq - b.seq : a.conn < b.conn ? -1 : 1));
}

describe('pgjdbc against the pg mock', () => {
  let dir = '';
  let traffic = '';
  let recorded = '';

  beforeAll(async () => {
    if (missing !== undefined) return;
    dir = await tempDir('jdbc');
    ({ traffic, output: recorded } = await recordThroughCli(dir, jdbc));
  }, 180_000);

  afterAll(async () => {
    if (missing !== undefined) return;
    await adminSql(`DROP TABLE IF EXISTS ${table}`);
    await removeDir(dir);
  });

  it('prints what it printed against the real server, errors in transactions included', async (ctx) => {
    if (missing !== undefined) skipOrFail(ctx, missing);
    // The workload really did what this test is about, against the real server.
    expect(recorded).toContain('first in transaction: division by zero: ERROR 22012');
    expect(recorded).toContain('first in transaction: unique violation: ERROR 23505');
    expect(recorded).toContain('in the failed transaction: ERROR 25P02');
    expect(recorded).toContain('after rollback: division by zero: ERROR 22012');
    expect(recorded).toMatch(/rollback to savepoint\ninsert 8: 1/);
    expect(recorded).toContain('2 (Integer) | name 2 (String) | 2.25 (BigDecimal) | true (Boolean) | 20000000000 (Long) | 0.5 (Double) | 2024-02-12 (Date)');

    const exchanges = await readTraffic(traffic);
    // Server-side prepared statements: pgjdbc named them after its threshold.
    const named = exchanges.filter((e) => e.protocol === 'pg' && e.pg.request.kind === 'extended' && e.pg.request.statement !== undefined);
    expect(named.length).toBeGreaterThan(5);
    // BEGIN went in one batch with the statement after it; each got the status it left.
    const statements = queries(exchanges);
    const i = statements.findIndex((s, k) => s.sql === 'SELECT 1/0' && s.code === '22012' && statements[k - 1]?.sql === 'BEGIN');
    expect(i).toBeGreaterThan(0);
    expect(statements[i - 1]).toMatchObject({ sql: 'BEGIN', tx: 'T' });
    expect(statements[i]).toMatchObject({ code: '22012', tx: 'E' });

    await adminSql(`DROP TABLE IF EXISTS ${table}`);
    const replayed = await mockThroughCli(traffic, jdbc);
    expect(replayed).toBe(recorded);
  }, 180_000);

  it('replays a recording whose pipelined BEGINs carry their batch final status, as older recorders stored them', async (ctx) => {
    if (missing !== undefined) skipOrFail(ctx, missing);
    const exchanges = await readTraffic(traffic);
    const byKey = new Map(exchanges.filter((e): e is PgExchange => e.protocol === 'pg').map((e) => [`${e.pg.connection}/${e.pg.seq}`, e]));
    let rewritten = 0;
    for (const e of byKey.values()) {
      const req = e.pg.request;
      if (req.kind !== 'extended' || req.sql !== 'BEGIN') continue;
      const next = byKey.get(`${e.pg.connection}/${e.pg.seq + 1}`);
      const status = (next?.pg.response as PgQueryResponse | undefined)?.txStatus;
      if (status === undefined) continue;
      (e.pg.response as PgQueryResponse).txStatus = status;
      if (status === 'E') rewritten++;
    }
    expect(rewritten).toBeGreaterThanOrEqual(3);
    const old = `${dir}/old-traffic`;
    await writeTraffic(old, exchanges);
    await adminSql(`DROP TABLE IF EXISTS ${table}`);
    expect(await mockThroughCli(old, jdbc)).toBe(recorded);
  }, 180_000);
});
