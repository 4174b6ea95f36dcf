import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import postgres from 'postgres';
import { loadPgMockTls } from '../../src/mock/pg/tls.js';
import { execFileAsync, mockOf, record, removeDir, PG } from '../helpers/pg-harness.js';
import type { PgMock } from '../../src/mock/pg/types.js';

describe('pg mock for strict clients', () => {
  let dir = '';
  let mock: PgMock;

  beforeAll(async () => {
    dir = (
      await record('db', async (port) => {
        const c = new pg.Client({ ...PG, host: '127.0.0.1', port });
        await c.connect();
        await c.query('SELECT 42 AS answer');
        await c.end();
        const sql = postgres({ host: '127.0.0.1', port, user: PG.user, database: PG.database });
        await sql`SELECT 42 AS answer`;
        await sql.end();
        await execFileAsync('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', PG.user, '-d', PG.database, '-X', '-A', '-t', '-c', 'SELECT 42 AS answer']);
      })
    ).dir;
    const tls = await loadPgMockTls({ generate: true });
    mock = (await mockOf('db', dir, tls ? { tls } : {})).mock;
  }, 60_000);

  afterAll(async () => {
    await mock.close();
    await removeDir(dir);
  });

  it('serves clients that require TLS with a certificate generated at start', async () => {
    const c = new pg.Client({ ...PG, host: '127.0.0.1', port: mock.address.port, ssl: { rejectUnauthorized: false } });
    await c.connect();
    expect((await c.query('SELECT 42 AS answer')).rows).toEqual([{ answer: 42 }]);
    await c.end();
    const { stdout } = await execFileAsync(
      'psql',
      ['-h', '127.0.0.1', '-p', String(mock.address.port), '-U', PG.user, '-d', PG.database, '-X', '-A', '-t', '-c', 'SELECT 42 AS answer'],
      { env: { ...process.env, PGSSLMODE: 'require' } },
    );
    expect(stdout.trim()).toBe('42');
  });

  it('reports client_encoding UTF8 and an ISO DateStyle', async () => {
    const sql = postgres({ host: '127.0.0.1', port: mock.address.port, user: PG.user, database: PG.database, ssl: false });
    await sql`SELECT 42 AS answer`;
    expect(sql.parameters.client_encoding).toBe('UTF8');
    expect(sql.parameters.DateStyle).toMatch(/^ISO/);
    await sql.end();
  });

  it('answers a protocol 3.2 startup with NegotiateProtocolVersion and goes on', async () => {
    const params = Buffer.from('user\0postgres\0database\0test\0_pq_.test_option\0x\0\0');
    const head = Buffer.alloc(8);
    head.writeInt32BE(params.length + 8, 0);
    head.writeInt32BE((3 << 16) | 2, 4);
    const reply = await new Promise<Buffer>((resolve) => {
      const s = connect({ host: '127.0.0.1', port: mock.address.port }, () => s.write(Buffer.concat([head, params])));
      let buf = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.includes(Buffer.from([0x5a, 0, 0, 0, 5, 0x49]))) {
          s.end();
          resolve(buf);
        }
      });
    });
    expect(String.fromCharCode(reply[0] as number)).toBe('v');
    expect(reply.readInt32BE(5)).toBe(0);
    expect(reply.readInt32BE(9)).toBe(1);
    expect(reply.toString('utf8', 13, 13 + '_pq_.test_option'.length)).toBe('_pq_.test_option');
    expect(reply.includes(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0]))).toBe(true); // AuthenticationOk
  });
});
