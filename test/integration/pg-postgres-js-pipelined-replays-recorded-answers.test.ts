import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { adminSql, comparable, mockOf, record, removeDir, uniqueName, PG } from '../helpers/pg-harness.js';

const table = uniqueName('doppel_pjs');

/**
 * postgres.js pipelines queries issued together and uses named prepared
 * statements (with Describe of the statement on first use).
 */
async function workload(port: number): Promise<unknown[]> {
  const sql = postgres({ host: '127.0.0.1', port, user: PG.user, database: PG.database, max: 2, onnotice: () => {} });
  const out: unknown[] = [];
  const answer = async (p: Promise<unknown>): Promise<unknown> => {
    try {
      const r = (await p) as postgres.RowList<postgres.Row[]>;
      return { rows: [...r], command: r.command, count: r.count, types: r.columns?.map((c) => c.type) };
    } catch (err) {
      const e = err as postgres.PostgresError;
      return { error: e.code, message: e.message };
    }
  };
  // Kept in issue order, not completion order: concurrent queries finish in any order.
  const keep = async (p: Promise<unknown>) => {
    const slot = out.length;
    out.push(undefined);
    out[slot] = await answer(p);
  };
  try {
    await keep(sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY, name text, payload jsonb, raw bytea, ok boolean, seen date)`));
    // Issued together: pipelined on the connections, many messages before one Sync.
    await Promise.all(
      [1, 2, 3, 4, 5, 6].map((i) =>
        keep(sql`INSERT INTO ${sql(table)} (id, name, payload, raw, ok, seen) VALUES (${i}, ${'n' + i}, ${sql.json({ i })}, ${Buffer.from([i, 0, 255])}, ${i % 2 === 0}, ${'2024-02-0' + i}) RETURNING id`),
      ),
    );
    await keep(sql`INSERT INTO ${sql(table)} (id, name) VALUES (${1}, ${'dup'})`);
    await Promise.all([1, 2, 3].map((i) => keep(sql`SELECT id, name, payload, raw, ok, seen FROM ${sql(table)} WHERE id = ${i}`)));
    await keep(sql`SELECT count(*)::int AS n, sum(id)::int8 AS s, avg(id)::numeric(6,3) AS a, 0.5::float8 AS f FROM ${sql(table)}`);
    await keep(
      sql.begin(async (tx) => {
        await tx`UPDATE ${sql(table)} SET name = ${'changed'} WHERE id = ${2}`;
        return tx`SELECT name FROM ${sql(table)} WHERE id = ${2}`;
      }),
    );
    await keep(sql`SELECT name FROM ${sql(table)} WHERE id = ${2}`);
    await keep(sql`SELECT ${'x'}::text || nope FROM ${sql(table)}`);
    await keep(sql.unsafe(`DROP TABLE ${table}`));
  } finally {
    await sql.end();
  }
  return out;
}

describe('postgres.js against the pg mock', () => {
  let dir = '';
  let recorded: unknown[] = [];

  beforeAll(async () => {
    await adminSql(`DROP TABLE IF EXISTS ${table}`);
    dir = (
      await record('db', async (port) => {
        recorded = await workload(port);
      })
    ).dir;
  });

  afterAll(async () => {
    await adminSql(`DROP TABLE IF EXISTS ${table}`);
    await removeDir(dir);
  });

  it('gets the recorded answers for pipelined, prepared and transactional queries', async () => {
    expect(comparable(recorded)).toContain('23505');
    const { mock } = await mockOf('db', dir);
    try {
      const replayed = await workload(mock.address.port);
      expect(comparable(replayed)).toBe(comparable(recorded));
      expect(mock.unmatched()).toEqual([]);
    } finally {
      await mock.close();
    }
  });
});
