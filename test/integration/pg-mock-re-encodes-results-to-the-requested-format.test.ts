import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { comparable, mockOf, record, removeDir, PG } from '../helpers/pg-harness.js';

const SQL = `SELECT $1::int4 AS i, 9007199254740993::int8 AS big, 2::int2 AS small, true AS b, 0.25::float8 AS f8, 1.5::float4 AS f4,
  123.450::numeric AS n, 'héllo'::text AS t, 'v'::varchar AS v, '\\x00ff'::bytea AS raw, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u,
  '2024-02-29'::date AS d, '2024-01-02 03:04:05.678'::timestamp AS ts, '2024-01-02 03:04:05.678+00'::timestamptz AS tz,
  '{"a": [1, 2]}'::json AS j, '{"b": 1}'::jsonb AS jb, NULL::int4 AS nothing`;

async function query(port: number, binary: boolean): Promise<unknown> {
  const c = new pg.Client({ ...PG, host: '127.0.0.1', port });
  await c.connect();
  try {
    const r = await c.query({ text: SQL, values: [7], binary } as pg.QueryConfig);
    return r.rows;
  } finally {
    await c.end();
  }
}

describe('format re-encoding in the pg mock', () => {
  let dir = '';
  let direct: { text: unknown; binary: unknown };

  beforeAll(async () => {
    direct = { text: await query(PG.port, false), binary: await query(PG.port, true) };
    dir = (
      await record('db', async (port) => {
        await query(port, false);
      })
    ).dir;
  });

  afterAll(async () => removeDir(dir));

  it('answers a binary request from a text recording with what the server itself sends in binary', async () => {
    const { mock } = await mockOf('db', dir);
    try {
      expect(comparable(await query(mock.address.port, true))).toBe(comparable(direct.binary));
      expect(comparable(await query(mock.address.port, false))).toBe(comparable(direct.text));
    } finally {
      await mock.close();
    }
  });
});
