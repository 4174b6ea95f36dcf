/**
 * `doppel record --pg-dep` in front of the real server, then `doppel mock
 * --pg-dep` from that recording: psql gets the same answers from the mock as
 * it got through the relay, with the table gone from the server.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { runCli, startCli, type Running } from '../helpers/cli.js';
import { requireTool } from '../helpers/services.js';

const execFileAsync = promisify(execFile);
const running: Running[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const r of running) await r.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const TABLE = `doppel_cli_pg_${process.pid}`;
const SCRIPT = `SELECT n, n * 2 AS twice, 'row ' || n AS label FROM generate_series(1, 3) AS n ORDER BY n; SELECT count(*) FROM ${TABLE};`;

async function psql(port: number, sql: string): Promise<string> {
  const { stdout } = await execFileAsync('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'test', '-X', '-A', '-c', sql], {
    env: { ...process.env, PGCONNECT_TIMEOUT: '5' },
  });
  return stdout;
}

function portOf(line: Record<string, unknown>): number {
  return Number(String(line.listen).split(':').pop());
}

describe('doppel record --pg-dep, then doppel mock --pg-dep', () => {
  it('serves psql the recorded answers once the table is gone from the server', async (ctx) => {
    requireTool(ctx, 'psql', 'postgresql-client');
    const setup = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' });
    await setup.connect();
    await setup.query(`CREATE TABLE IF NOT EXISTS ${TABLE} (id int)`);
    await setup.query(`TRUNCATE ${TABLE}; INSERT INTO ${TABLE} VALUES (1), (2)`);
    const dir = await mkdtemp(join(tmpdir(), 'doppel-pg-cli-'));
    dirs.push(dir);
    const traffic = join(dir, 'traffic');

    const rec = startCli(['record', '--out', traffic, '--pg-dep', 'db=127.0.0.1:0,127.0.0.1:5432', '--admin', '127.0.0.1:0'], { DOPPEL_REDACT_KEY: 'k' });
    running.push(rec);
    const relayPort = portOf(await rec.waitFor('pg record relay listening'));
    const recorded = await psql(relayPort, SCRIPT);
    expect(recorded).toContain('1|2|row 1');
    expect(recorded).toContain('count\n2');
    expect(await rec.stop()).toBe(0);
    await setup.query(`DROP TABLE ${TABLE}`);
    await setup.end();

    const mock = startCli(['mock', '--traffic', traffic, '--pg-dep', 'db=127.0.0.1:0', '--admin', '127.0.0.1:0']);
    running.push(mock);
    const mockPort = portOf(await mock.waitFor('pg mock listening'));
    // The table is gone from the real server: only the recording can answer this.
    expect(await psql(mockPort, SCRIPT)).toBe(recorded);
    await expect(psql(mockPort, 'SELECT 42')).rejects.toThrow(/ERROR/);
    expect(await mock.stop()).toBe(0);
  });

  it('refuses --pg-dep without a target in record, exit 2', async () => {
    const r = await runCli(['record', '--out', join(tmpdir(), `doppel-never-${process.pid}`), '--pg-dep', 'db=127.0.0.1:0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--pg-dep "db=127.0.0.1:0": expected NAME=LISTEN,TARGET');
  });
});
