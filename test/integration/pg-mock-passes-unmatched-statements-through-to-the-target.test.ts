/**
 * `doppel mock --pg-dep NAME=LISTEN,TARGET`: a recorded statement is served
 * from the recording (its table is gone from the server), an unrecorded one
 * runs on the real server, comes back to the client, is written to the
 * traffic directory and is served from it the next time; a transaction the
 * server holds keeps every statement there; a miss inside a transaction the
 * mock simulates is refused; an unreachable target answers 08006.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { PgExchange } from '../../src/core/exchange.js';
import { createFileStoreReader } from '../../src/store/file-store.js';
import { startCli, type Running } from '../helpers/cli.js';
import { refusingPort } from '../helpers/ports.js';
import { requireTool } from '../helpers/services.js';

const execFileAsync = promisify(execFile);
const running: Running[] = [];
const dirs: string[] = [];
const REC = `doppel_pt_rec_${process.pid}`;
const LIVE = `doppel_pt_live_${process.pid}`;
let admin: pg.Client;
let traffic = '';

function portOf(line: Record<string, unknown>): number {
  return Number(String(line.listen).split(':').pop());
}

function client(port: number): pg.Client {
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'test' });
  // A failed assertion leaves the client open; the mock stopping then must not be an uncaught error.
  c.on('error', () => undefined);
  return c;
}

async function psql(port: number, sql: string): Promise<string> {
  const { stdout } = await execFileAsync('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'test', '-X', '-A', '-t', '-c', sql], {
    env: { ...process.env, PGCONNECT_TIMEOUT: '5' },
  });
  return stdout.trim();
}

async function readPg(dir: string): Promise<PgExchange[]> {
  const out: PgExchange[] = [];
  for await (const ex of createFileStoreReader([dir]).read()) if (ex.protocol === 'pg') out.push(ex);
  return out;
}

beforeAll(async () => {
  admin = client(5432);
  await admin.connect();
  await admin.query(`DROP TABLE IF EXISTS ${REC}; DROP TABLE IF EXISTS ${LIVE}`);
  await admin.query(`CREATE TABLE ${REC} (id int PRIMARY KEY, name text); INSERT INTO ${REC} VALUES (1, 'recorded one'), (2, 'recorded two')`);
  await admin.query(`CREATE TABLE ${LIVE} (id int PRIMARY KEY, label text); INSERT INTO ${LIVE} VALUES (7, 'live seven'), (8, 'live eight')`);
  const dir = await mkdtemp(join(tmpdir(), 'doppel-pg-pass-'));
  dirs.push(dir);
  traffic = join(dir, 'traffic');

  // The recording: one extended-protocol select and one transaction.
  const rec = startCli(['record', '--out', traffic, '--pg-dep', 'db=127.0.0.1:0,127.0.0.1:5432'], { DOPPEL_REDACT_KEY: 'k' });
  running.push(rec);
  const c = client(portOf(await rec.waitFor('pg record relay listening')));
  await c.connect();
  await c.query(`SELECT id, name FROM ${REC} WHERE id = $1`, [1]);
  await c.query("SET statement_timeout = '4321ms'");
  await c.query('BEGIN');
  await c.query(`SELECT name FROM ${REC} WHERE id = 2`);
  await c.query('ROLLBACK');
  await c.end();
  expect(await rec.stop()).toBe(0);
  await admin.query(`DROP TABLE ${REC}`);
});

afterAll(async () => {
  await admin?.query(`DROP TABLE IF EXISTS ${REC}; DROP TABLE IF EXISTS ${LIVE}`);
  await admin?.end();
  for (const r of running) await r.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('doppel mock --pg-dep with a target', () => {
  it('serves recordings, passes misses through, records them and serves them the next time', async (ctx) => {
    requireTool(ctx, 'psql', 'postgresql-client');
    const mock = startCli(['mock', '--traffic', traffic, '--pg-dep', 'db=127.0.0.1:0,127.0.0.1:5432', '--admin', '127.0.0.1:0']);
    running.push(mock);
    const port = portOf(await mock.waitFor('pg mock listening'));
    const adminAddr = String((await mock.waitFor('admin api listening')).address);
    const c = client(port);
    await c.connect();

    // Recorded: answered although the table is gone from the server.
    expect((await c.query(`SELECT id, name FROM ${REC} WHERE id = $1`, [1])).rows).toEqual([{ id: 1, name: 'recorded one' }]);
    // Not recorded: the real server answers (extended protocol, then psql's simple Query).
    const liveSql = `SELECT id, label FROM ${LIVE} WHERE id = $1`;
    expect((await c.query(liveSql, [7])).rows).toEqual([{ id: 7, label: 'live seven' }]);
    expect(await psql(port, `SELECT count(*) FROM ${LIVE}`)).toBe('2');
    // A server error passes through as it is, and the connection goes on.
    await expect(c.query(`SELECT nope FROM ${LIVE}`)).rejects.toMatchObject({ code: '42703' });

    // The server changes; the second identical call is served from what passed through.
    await admin.query(`UPDATE ${LIVE} SET label = 'changed'; INSERT INTO ${LIVE} VALUES (9, 'nine')`);
    expect((await c.query(liveSql, [7])).rows).toEqual([{ id: 7, label: 'live seven' }]);
    expect(await psql(port, `SELECT count(*) FROM ${LIVE}`)).toBe('2');
    // Other parameter values are other statements: they pass through.
    expect((await c.query(liveSql, [8])).rows).toEqual([{ id: 8, label: 'changed' }]);

    const metrics = await (await fetch(`http://${adminAddr}/metrics`)).text();
    expect(metrics).toMatch(/doppel_mock_requests_total\{service="db",protocol="pg",result="passthrough"\} 4/);
    expect(metrics).toMatch(/doppel_mock_requests_total\{service="db",protocol="pg",result="matched"\} 3/);
    await c.end();
    expect(await mock.stop()).toBe(0);

    const written = (await readPg(traffic)).filter((e) => e.tags.source === 'mock-passthrough');
    const sqls = written.map((e) => (e.pg.request.kind === 'startup' ? '' : e.pg.request.sql));
    expect(sqls).toEqual([liveSql, `SELECT count(*) FROM ${LIVE}`, `SELECT nope FROM ${LIVE}`, liveSql]);
    expect(written.every((e) => e.service === 'db' && e.direction === 'outbound')).toBe(true);
    const first = written[0]?.pg.response;
    expect(first !== undefined && 'results' in first ? first.results[0]?.rows : undefined).toEqual([['7', 'live seven']]);

    // A new mock serves everything that passed through without the server.
    const again = startCli(['mock', '--traffic', traffic, '--pg-dep', 'db=127.0.0.1:0']);
    running.push(again);
    const c2 = client(portOf(await again.waitFor('pg mock listening')));
    await c2.connect();
    expect((await c2.query(liveSql, [8])).rows).toEqual([{ id: 8, label: 'changed' }]);
    await c2.end();
    expect(await again.stop()).toBe(0);
  });

  it('replays the SETs served from the recording on the server connection before a passthrough', async () => {
    const mock = startCli(['mock', '--traffic', traffic, '--pg-dep', 'db=127.0.0.1:0,127.0.0.1:5432']);
    running.push(mock);
    const c = client(portOf(await mock.waitFor('pg mock listening')));
    await c.connect();
    await c.query("SET statement_timeout = '4321ms'");
    expect((await c.query("SELECT current_setting('statement_timeout') AS t")).rows).toEqual([{ t: '4321ms' }]);
    await c.end();
    expect(await mock.stop()).toBe(0);
  });

  it('keeps a transaction the server holds on the server, and refuses a miss inside a simulated one', async () => {
    const mock = startCli(['mock', '--traffic', traffic, '--pg-dep', 'db=127.0.0.1:0,127.0.0.1:5432']);
    running.push(mock);
    const c = client(portOf(await mock.waitFor('pg mock listening')));
    await c.connect();

    // BEGIN is recorded: the mock simulates the transaction, and a miss inside it is refused.
    await c.query('BEGIN');
    const refused = await c.query(`SELECT label FROM ${LIVE} WHERE id = 7`).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'XX000' });
    expect((refused as Error).message).toContain('inside a transaction block');
    await c.query('ROLLBACK');

    // START TRANSACTION is not recorded: it opens a transaction on the server, which keeps
    // every statement, the recorded ROLLBACK included, until it ends.
    await c.query('START TRANSACTION');
    await c.query(`INSERT INTO ${LIVE} VALUES (100, 'in transaction')`);
    expect((await c.query(`SELECT count(*)::int AS n FROM ${LIVE} WHERE id = 100`)).rows).toEqual([{ n: 1 }]);
    await c.query('ROLLBACK');
    expect((await admin.query(`SELECT count(*)::int AS n FROM ${LIVE} WHERE id = 100`)).rows).toEqual([{ n: 0 }]);
    // Outside the transaction, recordings answer again.
    expect((await c.query(`SELECT id, name FROM ${REC} WHERE id = $1`, [1])).rows).toEqual([{ id: 1, name: 'recorded one' }]);
    await c.end();
    expect(await mock.stop()).toBe(0);
  });

  it('answers 08006 naming an unreachable target, and the connection stays usable', async () => {
    const port = await refusingPort();
    const mock = startCli(['mock', '--traffic', traffic, '--pg-dep', `db=127.0.0.1:0,127.0.0.1:${port}`, '--admin', '127.0.0.1:0']);
    running.push(mock);
    const c = client(portOf(await mock.waitFor('pg mock listening')));
    const adminAddr = String((await mock.waitFor('admin api listening')).address);
    await c.connect();
    const err = await c.query(`SELECT id FROM ${LIVE} WHERE id = $1`, [7]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: '08006' });
    expect((err as Error).message).toContain(`127.0.0.1:${port}`);
    const simple = await c.query(`SELECT max(id) FROM ${LIVE}`).catch((e: unknown) => e);
    expect(simple).toMatchObject({ code: '08006' });
    expect((await c.query(`SELECT id, name FROM ${REC} WHERE id = $1`, [1])).rows).toEqual([{ id: 1, name: 'recorded one' }]);
    const metrics = await (await fetch(`http://${adminAddr}/metrics`)).text();
    expect(metrics).toMatch(/doppel_mock_requests_total\{service="db",protocol="pg",result="unmatched"\} 2/);
    const unmatched: unknown = await (await fetch(`http://${adminAddr}/api/unmatched`)).json();
    expect(JSON.stringify(unmatched)).toContain(`SELECT id FROM ${LIVE} WHERE id = $1`);
    await c.end();
    expect(await mock.stop()).toBe(0);
  });
});
