/**
 * On a Node whose accepted sockets cannot be switched to reads into one
 * buffer (capture/socket-reads.ts finds no fields to set), the record relay
 * reads the client's side from 'data' events. This Node can switch, so the
 * switch is made to refuse here; the relay must still relay and record
 * every statement, a result of several MB included.
 */
import pg from 'pg';
import { describe, expect, it, vi } from 'vitest';
import type { PgExchange } from '../../src/core/exchange.js';
import { PG, record, removeDir } from '../helpers/pg-harness.js';

const refused = vi.hoisted(() => ({ calls: 0 }));
vi.mock('../../src/capture/socket-reads.js', async (load) => ({
  ...(await load<typeof import('../../src/capture/socket-reads.js')>()),
  readIntoBuffer: () => {
    refused.calls++;
    return false;
  },
}));

describe('pg record relay without buffer reads on the client side', () => {
  it('relays and records every statement from data events', async () => {
    const rows = 2000;
    const big = `SELECT i, repeat(md5(i::text), 64) AS pad FROM generate_series(1, ${rows}) AS i`;
    const recording = await record('db', async (port) => {
      const c = new pg.Client({ host: '127.0.0.1', port, user: PG.user, database: PG.database });
      await c.connect();
      for (let i = 1; i <= 20; i++) expect((await c.query('SELECT $1::int AS n', [i])).rows).toEqual([{ n: i }]);
      const r = await c.query(big);
      expect(r.rows).toHaveLength(rows);
      expect(r.rows[rows - 1]).toMatchObject({ i: rows });
      await c.end();
    });
    try {
      expect(refused.calls).toBe(1);
      const dropped = (await recording.metrics.recordDropped.get()).values.reduce((n, v) => n + v.value, 0);
      expect(dropped).toBe(0);
      const statements = (recording.exchanges as PgExchange[]).filter((e) => e.pg.request.kind !== 'startup');
      expect(statements.filter((e) => e.pg.request.kind === 'extended' && e.pg.request.sql === 'SELECT $1::int AS n')).toHaveLength(20);
      const res = statements.find((e) => e.pg.request.kind === 'simple' && e.pg.request.sql === big)?.pg.response;
      expect(res !== undefined && 'results' in res && res.results[0]?.rows).toHaveLength(rows);
    } finally {
      await removeDir(recording.dir);
    }
  });
});
