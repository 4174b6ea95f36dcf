import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { adminSql, comparable, mockOf, record, removeDir, uniqueName, PG } from '../helpers/pg-harness.js';

const table = uniqueName('doppel_np');

/** A node-postgres workload: simple and parameterized queries, transactions, errors. Returns every answer. */
async function workload(port: number): Promise<unknown[]> {
  const out: unknown[] = [];
  const c = new pg.Client({ ...PG, port, host: '127.0.0.1' });
  await c.connect();
  const q = async (text: string, values?: unknown[]) => {
    try {
      const r = await c.query(text, values);
      const rs = Array.isArray(r) ? r : [r];
      out.push(rs.map((x: pg.QueryResult) => ({ command: x.command, rowCount: x.rowCount, rows: x.rows, types: x.fields.map((f) => f.dataTypeID) })));
    } catch (err) {
      const e = err as pg.DatabaseError;
      out.push({ error: e.code, message: e.message, constraint: e.constraint, detail: e.detail });
    }
  };
  await q(`CREATE TABLE ${table} (id serial PRIMARY KEY, email text UNIQUE NOT NULL, amount numeric(10,2), at timestamptz DEFAULT '2024-05-06T07:08:09Z')`);
  await q(`INSERT INTO ${table} (email, amount) VALUES ($1, $2) RETURNING id`, ['a@x.io', '12.50']);
  await q(`INSERT INTO ${table} (email, amount) VALUES ($1, $2) RETURNING id`, ['b@x.io', '7']);
  await q(`INSERT INTO ${table} (email, amount) VALUES ($1, $2)`, ['a@x.io', '1']);
  await q(`SELECT id, email, amount, at FROM ${table} ORDER BY id`);
  await q(`SELECT count(*) FROM ${table}; SELECT max(amount) FROM ${table}`);
  await q('BEGIN');
  await q(`UPDATE ${table} SET amount = amount + $1 WHERE email = $2`, ['1.25', 'a@x.io']);
  await q('SAVEPOINT s1');
  await q(`INSERT INTO ${table} (email) VALUES ('b@x.io')`);
  await q('SELECT 1');
  await q('ROLLBACK TO SAVEPOINT s1');
  await q(`SELECT amount FROM ${table} WHERE email = $1`, ['a@x.io']);
  await q('COMMIT');
  await q('BEGIN');
  await q('SELECT 1/0');
  await q('SELECT 2');
  await q('ROLLBACK');
  await q(`SELECT * FROM ${table}_missing`);
  await q('');
  await q(`SELECT email FROM ${table} WHERE id = ANY($1::int[]) ORDER BY id`, [[1, 2]]);
  await q(`DROP TABLE ${table}`);
  await c.end();
  return out;
}

describe('node-postgres against the pg mock', () => {
  let dir = '';
  let recorded: unknown[] = [];

  beforeAll(async () => {
    await adminSql(`DROP TABLE IF EXISTS ${table}`);
    const rec = await record('db', async (port) => {
      recorded = await workload(port);
    });
    dir = rec.dir;
    expect(rec.exchanges.filter((e) => e.protocol === 'pg' && e.pg.request.kind !== 'startup').length).toBeGreaterThan(15);
  });

  afterAll(async () => {
    await adminSql(`DROP TABLE IF EXISTS ${table}`);
    await removeDir(dir);
  });

  it('gets the recorded rows, types, command tags and error codes with no server behind the mock', async () => {
    expect(comparable(recorded)).toContain('23505');
    const { mock, metrics } = await mockOf('db', dir);
    try {
      const replayed = await workload(mock.address.port);
      expect(comparable(replayed)).toBe(comparable(recorded));
      expect(mock.stats().unmatched).toBe(0);
      const text = await metrics.registry.getSingleMetricAsString('doppel_mock_requests_total');
      expect(text).toMatch(/doppel_mock_requests_total\{service="db",protocol="pg",result="matched"\} \d+/);
    } finally {
      await mock.close();
    }
  });

  it('answers a statement it has no recording for with an error naming the nearest one, and the connection stays usable', async () => {
    const { mock } = await mockOf('db', dir);
    const c = new pg.Client({ ...PG, host: '127.0.0.1', port: mock.address.port });
    try {
      await c.connect();
      const err = await c.query(`SELECT amount FROM ${table} WHERE email = $1`, ['zzz@x.io']).catch((e: pg.DatabaseError) => e);
      expect((err as pg.DatabaseError).code).toBe('XX000');
      expect((err as pg.DatabaseError).message).toContain(`SELECT amount FROM ${table}`);
      expect((err as pg.DatabaseError).detail).toContain('parameter $1');
      const ok = await c.query(`SELECT count(*) FROM ${table}; SELECT max(amount) FROM ${table}`);
      expect((ok as unknown as pg.QueryResult[]).map((r) => r.rows)).toEqual([[{ count: '2' }], [{ max: '12.50' }]]);
      expect(mock.unmatched()[0]?.request.params).toEqual(['zzz@x.io']);
    } finally {
      await c.end();
      await mock.close();
    }
  });
});
