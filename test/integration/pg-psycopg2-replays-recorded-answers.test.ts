/**
 * psycopg2, recorded through `doppel record --pg-dep` against the real server
 * and replayed against `doppel mock --pg-dep`, prints the same text: rows,
 * column type OIDs, status messages and libpq's transaction status, with
 * autocommit on and off, errors inside and outside transactions and
 * savepoints. psycopg2 interpolates parameters into the SQL text on the
 * client, so the mock matches them as literals: another value is a miss
 * that names the literal that differs.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminSql, removeDir, tempDir, uniqueName } from '../helpers/pg-harness.js';
import { mockThroughCli, recordThroughCli, runProgram } from '../helpers/pg-driver-harness.js';
import { findExecutable, missingToolMessage, skipOrFail } from '../helpers/services.js';

const PROGRAM = fileURLToPath(new URL('../fixtures/pg/psycopg2_workload.py', import.meta.url));

/** A python3 that imports psycopg2: Debian's python3-psycopg2 installs it for /usr/bin/python3. */
function pythonWithPsycopg2(): string | undefined {
  for (const p of new Set([findExecutable('python3', ['/usr/bin/python3']), findExecutable('python3')])) {
    if (p === undefined) continue;
    try {
      execFileSync(p, ['-c', 'import psycopg2'], { stdio: 'ignore' });
      return p;
    } catch {
      // this interpreter has no psycopg2
    }
  }
  return undefined;
}

const python = pythonWithPsycopg2();
const table = uniqueName('doppel_psycopg2');

function psycopg2(port: number): Promise<string> {
  return runProgram(python as string, [PROGRAM, String(port), table]);
}

/** One statement with a value psycopg2 interpolates; prints its result or its error. */
function lookup(port: number, id: number): Promise<string> {
  const script = [
    'import sys, psycopg2',
    `c = psycopg2.connect(host="127.0.0.1", port=sys.argv[1], user="postgres", dbname="test", sslmode="disable")`,
    'cur = c.cursor()',
    'try:',
    `    cur.execute("SELECT count(*) FROM ${table} WHERE id >= %s", (int(sys.argv[2]),))`,
    '    print(cur.query.decode(), cur.fetchall())',
    'except psycopg2.Error as e:',
    '    print(e.pgcode, e.pgerror.strip().replace("\\n", " | "))',
  ].join('\n');
  return runProgram(python as string, ['-c', script, String(port), String(id)]);
}

describe('psycopg2 against the pg mock', () => {
  let dir = '';
  let traffic = '';
  let recorded = '';
  let recordedLookup = '';

  beforeAll(async () => {
    if (python === undefined) return;
    dir = await tempDir('psycopg2');
    await adminSql(`DROP TABLE IF EXISTS ${table}`);
    ({ traffic, output: recorded } = await recordThroughCli(dir, async (port) => {
      const out = await psycopg2(port);
      // The workload dropped its table at its end: this one sees it recreated empty.
      await adminSql(`CREATE TABLE ${table} (id int)`);
      recordedLookup = await lookup(port, 1);
      return out;
    }));
  }, 180_000);

  afterAll(async () => {
    if (python === undefined) return;
    await adminSql(`DROP TABLE IF EXISTS ${table}`);
    await removeDir(dir);
  });

  it('prints what it printed against the real server, and a value it never sent is a miss naming the literal', async (ctx) => {
    if (python === undefined) skipOrFail(ctx, missingToolMessage('psycopg2 for /usr/bin/python3', 'python3-psycopg2'));
    expect(recorded).toContain("first in transaction: division by zero: ERROR 22012 'ERROR:  division by zero'");
    expect(recorded).toContain('later in transaction: unique violation: ERROR 23505');
    expect(recorded).toContain('in the failed transaction: ERROR 25P02');
    expect(recorded).toContain('commit of a failed transaction: ROLLBACK');
    expect(recorded).toMatch(/rollback to savepoint: ROLLBACK rowcount=-1\nstatus: in transaction/);
    expect(recorded).toContain('select: SELECT 2 id/23 name/25 amount/1700 flag/16 born/1082');
    expect(recordedLookup).toBe(`SELECT count(*) FROM ${table} WHERE id >= 1 [(0,)]\n`);

    await adminSql(`DROP TABLE IF EXISTS ${table}`);
    const replayed = await mockThroughCli(traffic, async (port) => {
      const out = await psycopg2(port);
      expect(await lookup(port, 1)).toBe(recordedLookup);
      // The value is part of the statement text: a different one has no recording.
      const miss = await lookup(port, 2);
      expect(miss).toMatch(/^XX000 ERROR: {2}doppel mock: no recording for statement: SELECT count\(\*\) FROM \S+ WHERE id >= 2/);
      expect(miss).toContain('(differs in literal 1)');
      return out;
    });
    expect(replayed).toBe(recorded);
  }, 180_000);
});
