import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminSql, execFileAsync, mockOf, record, removeDir, tempDir, uniqueName, PG } from '../helpers/pg-harness.js';

const table = uniqueName('doppel_psql');
const benchDb = uniqueName('doppel_pgbench');

async function psql(port: number, args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const r = await execFileAsync('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', PG.user, '-d', PG.database, '-X', '-q', ...args], {
      env: { ...process.env, PGCONNECT_TIMEOUT: '10', PGSSLMODE: 'prefer' },
    });
    return { stdout: r.stdout, stderr: r.stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

/** pgbench with a fixed seed and transaction count prints the same per-statement work each run. */
async function pgbench(port: number, mode: string): Promise<string> {
  const r = await execFileAsync(
    'pgbench',
    ['-h', '127.0.0.1', '-p', String(port), '-U', PG.user, '-n', '-M', mode, '-c', '2', '-j', '1', '-t', '20', '--random-seed', '7', benchDb],
    { env: { ...process.env, PGCONNECT_TIMEOUT: '10' } },
  );
  return r.stdout;
}

describe('psql and pgbench against the pg mock', () => {
  let dir = '';
  let scriptDir = '';
  let script = '';
  const recorded: Record<string, unknown> = {};

  async function psqlWork(port: number) {
    return {
      c: await psql(port, ['-c', `SELECT id, name FROM ${table} ORDER BY id`]),
      cErr: await psql(port, ['-c', `SELECT * FROM ${table}_missing`]),
      script: await psql(port, ['-v', 'ON_ERROR_STOP=0', '-f', script]),
    };
  }

  beforeAll(async () => {
    scriptDir = await tempDir('psql');
    script = join(scriptDir, 'work.sql');
    await writeFile(
      script,
      [
        'BEGIN;',
        `INSERT INTO ${table} (id, name) VALUES (3, 'three');`,
        `SELECT count(*) AS n FROM ${table};`,
        'ROLLBACK;',
        `INSERT INTO ${table} (id, name) VALUES (1, 'again');`,
        `SELECT name, length(name) AS len, now()::date IS NOT NULL AS ok FROM ${table} WHERE id = 2;`,
        '\\echo done',
        '',
      ].join('\n'),
    );
    await adminSql(`DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (id int PRIMARY KEY, name text); INSERT INTO ${table} VALUES (1, 'one'), (2, 'two')`);
    await adminSql(`DROP DATABASE IF EXISTS ${benchDb}`);
    await adminSql(`CREATE DATABASE ${benchDb}`);
    await execFileAsync('pgbench', ['-h', PG.host, '-p', String(PG.port), '-U', PG.user, '-i', '-q', '-s', '1', benchDb]);
    dir = (
      await record('db', async (port) => {
        recorded.psql = await psqlWork(port);
        for (const mode of ['simple', 'extended', 'prepared']) recorded[mode] = await pgbench(port, mode);
      })
    ).dir;
  }, 120_000);

  afterAll(async () => {
    await adminSql(`DROP TABLE IF EXISTS ${table}`);
    await adminSql(`DROP DATABASE IF EXISTS ${benchDb}`);
    await removeDir(dir);
    await removeDir(scriptDir);
  });

  it('psql -c and a psql script print the recorded output and errors', async () => {
    const { mock } = await mockOf('db', dir);
    try {
      const replayed = await psqlWork(mock.address.port);
      expect(replayed).toEqual(recorded.psql);
      expect(replayed.cErr.stderr).toContain('does not exist');
      expect(replayed.script.stderr).toContain('duplicate key');
      expect(mock.unmatched()).toEqual([]);
    } finally {
      await mock.close();
    }
  });

  it.each(['simple', 'extended', 'prepared'])('pgbench -M %s runs every transaction against the mock without a miss', async (mode) => {
    const { mock } = await mockOf('db', dir);
    try {
      const out = await pgbench(mock.address.port, mode);
      expect(out).toContain('number of transactions actually processed: 40/40');
      expect(out).toContain('number of failed transactions: 0');
      expect(String(recorded[mode])).toContain('number of transactions actually processed: 40/40');
      expect(mock.unmatched()).toEqual([]);
      expect(mock.stats().matched).toBeGreaterThan(40 * 5);
    } finally {
      await mock.close();
    }
  });
});
