import { chmod, mkdir, readdir, writeFile, appendFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import postgres from 'postgres';
import { startPgRecorder } from '../../src/capture/pg-recorder.js';
import { createFileStoreReader, createFileStoreWriter } from '../../src/store/file-store.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { execFileAsync, mockOf, removeDir, sinkLogger, tempDir } from '../helpers/pg-harness.js';
import { until } from '../helpers/until.js';
import { freePort } from '../helpers/ports.js';

/** Postgres binaries: `pg_config --bindir`, else the newest /usr/lib/postgresql/N/bin. */
async function pgBinDir(): Promise<string> {
  try {
    const { stdout } = await execFileAsync('pg_config', ['--bindir']);
    const dir = stdout.trim();
    if (existsSync(join(dir, 'initdb'))) return dir;
  } catch {
    // fall through to the glob
  }
  const versions = (await readdir('/usr/lib/postgresql')).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) if (existsSync(join('/usr/lib/postgresql', v, 'bin', 'initdb'))) return join('/usr/lib/postgresql', v, 'bin');
  throw new Error('no initdb found: install the postgresql server package');
}

/** initdb refuses root: run the cluster as the postgres OS user when we are root. */
function asPostgres(cmd: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

async function run(cmd: string, args: string[]): Promise<void> {
  const [c, a] = asPostgres(cmd, args);
  await execFileAsync(c, a, { maxBuffer: 16 * 1024 * 1024 });
}

const PASSWORD = 'doppel-secret';

describe('record relay with password authentication', () => {
  let bin = '';
  let base = '';
  let data = '';
  let port = 0;

  beforeAll(async () => {
    bin = await pgBinDir();
    base = await tempDir('cluster');
    if (process.getuid?.() === 0) await execFileAsync('chown', ['postgres', base]);
    await chmod(base, 0o700);
    data = join(base, 'data');
    const pwfile = join(base, 'pw');
    await writeFile(pwfile, PASSWORD + '\n');
    if (process.getuid?.() === 0) await execFileAsync('chown', ['postgres', pwfile]);
    await run(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--pwfile', pwfile, '-A', 'scram-sha-256', '--no-sync']);
    port = await freePort();
    await mkdir(join(base, 'sock'), { recursive: true });
    if (process.getuid?.() === 0) await execFileAsync('chown', ['postgres', join(base, 'sock')]);
    await appendFile(join(data, 'postgresql.conf'), `\nport = ${port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${join(base, 'sock')}'\nfsync = off\n`);
    await run(join(bin, 'pg_ctl'), ['-D', data, '-l', join(base, 'log'), '-w', 'start']);
    const admin = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password: PASSWORD, database: 'postgres' });
    await admin.connect();
    await admin.query("SET password_encryption = 'md5'");
    await admin.query(`CREATE ROLE md5user LOGIN PASSWORD '${PASSWORD}'`);
    await admin.query("SET password_encryption = 'scram-sha-256'");
    await admin.query(`CREATE ROLE scramuser LOGIN PASSWORD '${PASSWORD}'`);
    await admin.end();
    // md5 for md5user, scram for everyone else, password (cleartext) for one more role.
    await writeFile(
      join(data, 'pg_hba.conf'),
      'host all md5user 127.0.0.1/32 md5\nhost all scramuser 127.0.0.1/32 scram-sha-256\nhost all all 127.0.0.1/32 scram-sha-256\nlocal all all trust\n',
    );
    await run(join(bin, 'pg_ctl'), ['-D', data, 'reload']);
  }, 120_000);

  afterAll(async () => {
    if (data) await run(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', 'stop']).catch(() => undefined);
    if (base) await removeDir(base);
  });

  it.each([
    ['md5user', 'md5'],
    ['scramuser', 'scram-sha-256'],
  ])('%s authenticates through the relay and the method is recorded, never the password', async (user, method) => {
    const dir = await tempDir('pg-auth');
    const writer = await createFileStoreWriter({ dir });
    const rec = await startPgRecorder({
      service: 'db',
      listen: { host: '127.0.0.1', port: 0 },
      target: { host: '127.0.0.1', port },
      writer,
      log: sinkLogger().log,
      metrics: createMetrics(),
    });
    try {
      const c = new pg.Client({ host: '127.0.0.1', port: rec.address.port, user, password: PASSWORD, database: 'postgres' });
      await c.connect();
      expect((await c.query('SELECT current_user AS u')).rows).toEqual([{ u: user }]);
      await c.end();
      const sql = postgres({ host: '127.0.0.1', port: rec.address.port, user, password: PASSWORD, database: 'postgres' });
      expect([...(await sql`SELECT 1 AS one`)]).toEqual([{ one: 1 }]);
      await sql.end();
      const bad = new pg.Client({ host: '127.0.0.1', port: rec.address.port, user, password: 'wrong', database: 'postgres' });
      const err = await bad.connect().catch((e: pg.DatabaseError) => e);
      expect((err as pg.DatabaseError).code).toBe('28P01');
    } finally {
      await rec.close();
      await writer.close();
    }
    const startups = [];
    let text = '';
    for await (const ex of createFileStoreReader([dir]).read()) {
      text += JSON.stringify(ex);
      if (ex.protocol === 'pg' && ex.pg.request.kind === 'startup') startups.push(ex.pg.request);
    }
    expect(startups.map((s) => s.auth)).toEqual([method, method, method]);
    expect(text).not.toContain(PASSWORD);
    await removeDir(dir);
  });

  it.each(['md5user', 'scramuser'])('the mock passes statements through to a server asking %s for a password, as pg and postgres.js', async (user) => {
    const dir = await tempDir('pg-pass-auth');
    const writer = await createFileStoreWriter({ dir });
    const { mock } = await mockOf('db', dir, { target: { host: '127.0.0.1', port }, password: PASSWORD, recordTo: writer });
    try {
      const c = new pg.Client({ host: '127.0.0.1', port: mock.address.port, user, database: 'postgres' });
      await c.connect();
      expect((await c.query('SELECT current_user AS u')).rows).toEqual([{ u: user }]);
      expect((await c.query('SELECT $1::int + 1 AS two', [1])).rows).toEqual([{ two: 2 }]);
      await c.end();
      // postgres.js describes the statement first (Parse, Describe, Sync), then binds it.
      const sql = postgres({ host: '127.0.0.1', port: mock.address.port, user, database: 'postgres', max: 1 });
      expect([...(await sql`SELECT ${41}::int + 1 AS answer, current_user AS u`)]).toEqual([{ answer: 42, u: user }]);
      await sql.end();
      // Two from pg; postgres.js's own pg_type query at connect, then the statement.
      expect(mock.stats()).toMatchObject({ passthrough: 4, unmatched: 0 });
    } finally {
      await mock.close();
      await writer.close();
    }
    let text = '';
    for await (const ex of createFileStoreReader([dir]).read()) text += JSON.stringify(ex);
    expect(text).toContain('current_user');
    expect(text).not.toContain(PASSWORD);
    await removeDir(dir);
  });

  it('the mock answers 08006 with the reason when the server refuses its password', async () => {
    const dir = await tempDir('pg-pass-bad');
    const { mock } = await mockOf('db', dir, { target: { host: '127.0.0.1', port }, password: 'wrong' });
    try {
      const c = new pg.Client({ host: '127.0.0.1', port: mock.address.port, user: 'scramuser', database: 'postgres' });
      await c.connect();
      const err = await c.query('SELECT 1').catch((e: pg.DatabaseError) => e);
      expect(err).toMatchObject({ code: '08006' });
      expect((err as Error).message).toContain('28P01');
      expect((await c.query('')).command).toBe(null);
      await c.end();
      expect(mock.stats()).toMatchObject({ passthrough: 0, unmatched: 1 });
    } finally {
      await mock.close();
      await removeDir(dir);
    }
  });

  it('cancels a running query through the relay (BackendKeyData passes unchanged, CancelRequest is forwarded)', async () => {
    const dir = await tempDir('pg-cancel');
    const writer = await createFileStoreWriter({ dir });
    const rec = await startPgRecorder({
      service: 'db',
      listen: { host: '127.0.0.1', port: 0 },
      target: { host: '127.0.0.1', port },
      writer,
      log: sinkLogger().log,
      metrics: createMetrics(),
    });
    const sql = postgres({ host: '127.0.0.1', port: rec.address.port, user: 'scramuser', password: PASSWORD, database: 'postgres', max: 1 });
    try {
      const q = sql`SELECT pg_sleep(30)`;
      const done = q.then(
        () => 'finished',
        (e: postgres.PostgresError) => e.code,
      );
      // postgres.js sends CancelRequest on a new connection with the key it got at startup. Sent
      // once the server shows the statement running, so what it cancels is that statement.
      const watcher = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password: PASSWORD, database: 'postgres' });
      await watcher.connect();
      try {
        await until('pg_sleep(30) running on the server', async () => {
          const r = await watcher.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'SELECT pg_sleep(30)%'");
          return (r.rows[0] as { n: number }).n === 1;
        });
      } finally {
        await watcher.end();
      }
      q.cancel();
      expect(await done).toBe('57014');
    } finally {
      await sql.end();
      await rec.close();
      await writer.close();
      await removeDir(dir);
    }
  });
});

describe('pg mock with password authentication', () => {
  it.each(['md5', 'scram-sha-256'] as const)('checks a %s password and refuses a wrong one', async (auth) => {
    const dir = await tempDir('pg-mock-auth');
    const { mock } = await mockOf('db', dir, { auth, password: PASSWORD });
    try {
      const c = new pg.Client({ host: '127.0.0.1', port: mock.address.port, user: 'app', password: PASSWORD, database: 'x' });
      await c.connect();
      expect((await c.query('')).command).toBe(null);
      await c.end();
      const bad = new pg.Client({ host: '127.0.0.1', port: mock.address.port, user: 'app', password: 'nope', database: 'x' });
      const err = await bad.connect().catch((e: pg.DatabaseError) => e);
      expect((err as pg.DatabaseError).code).toBe('28P01');
    } finally {
      await mock.close();
      await removeDir(dir);
    }
  });
});
