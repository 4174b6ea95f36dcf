import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { mockOf, record, removeDir, PG } from '../helpers/pg-harness.js';

const SQL = 'SELECT $1::int * 2 AS doubled, $2::text AS request_id';

async function ask(port: number, values: unknown[]): Promise<unknown> {
  const c = new pg.Client({ ...PG, port, host: '127.0.0.1' });
  await c.connect();
  try {
    const r = await c.query(SQL, values);
    return r.rows;
  } catch (err) {
    const e = err as pg.DatabaseError;
    return { code: e.code, detail: e.detail };
  } finally {
    await c.end();
  }
}

describe('pg mock ignore rules on parameters', () => {
  let dir = '';

  beforeAll(async () => {
    const rec = await record('db', async (port) => {
      expect(await ask(port, [21, 'req-recorded'])).toEqual([{ doubled: 42, request_id: 'req-recorded' }]);
    });
    dir = rec.dir;
  });

  afterAll(async () => {
    await removeDir(dir);
  });

  it('without a rule, a different $2 is a miss naming parameter $2', async () => {
    const { mock } = await mockOf('db', dir);
    try {
      expect(await ask(mock.address.port, [21, 'req-live'])).toEqual({ code: 'XX000', detail: expect.stringContaining('parameter $2') as unknown });
    } finally {
      await mock.close();
    }
  });

  it('with pg:$2, the recording answers whatever $2 is, and $1 still has to match', async () => {
    const { mock } = await mockOf('db', dir, { ignoreParams: ['pg:$2'] });
    try {
      expect(await ask(mock.address.port, [21, 'req-live'])).toEqual([{ doubled: 42, request_id: 'req-recorded' }]);
      expect(await ask(mock.address.port, [22, 'req-live'])).toEqual({ code: 'XX000', detail: expect.stringContaining('parameter $1') as unknown });
      expect(mock.stats()).toMatchObject({ matched: 1, unmatched: 1 });
    } finally {
      await mock.close();
    }
  });

  it('a rule that is not a parameter rule is a configuration error', async () => {
    await expect(mockOf('db', dir, { ignoreParams: ['$.createdAt', 'param:0'] })).rejects.toMatchObject({
      code: 'DOPPEL_CONFIG_INVALID',
      details: [
        'ignoreParams[0]: "$.createdAt" is not a parameter rule; expected $N, param:N or pg:$N with N from 1',
        'ignoreParams[1]: "param:0" is not a parameter rule; expected $N, param:N or pg:$N with N from 1',
      ],
    });
  });
});
