/**
 * Profiles a Postgres relay in a process of its own under pgbench -S:
 * starts bench/pg-relay-process.ts with `node --cpu-prof`, runs pgbench
 * against it for a while, stops it, and prints the relay's CPU per
 * transaction, what it recorded and dropped, and its self time by function.
 *
 *   npx tsx bench/profile-pg-relay.ts [record|plain] [simple|extended] [SECONDS] [PROFILE_DIR]
 *
 * Needs Postgres on 127.0.0.1:5432 (user postgres, trust) and pgbench.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { summarise, type CpuProfile } from './cpuprofile-summary.js';
import { fmt } from './stats.js';

const run = promisify(execFile);
const DB = 'doppel_pgbench_profile';
const here = dirname(fileURLToPath(import.meta.url));

const [kind = 'record', mode = 'extended', secondsArg = '20', profileDirArg] = process.argv.slice(2);
if ((kind !== 'record' && kind !== 'plain') || !['simple', 'extended', 'prepared'].includes(mode) || !(Number(secondsArg) > 0)) {
  process.stderr.write('usage: profile-pg-relay.ts [record|plain] [simple|extended|prepared] [SECONDS] [PROFILE_DIR]\n');
  process.exit(2);
}

const admin = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' });
await admin.connect();
const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [DB]);
if (exists.rowCount === 0) {
  await admin.query(`CREATE DATABASE ${DB}`);
  await run('pgbench', ['-h', '127.0.0.1', '-p', '5432', '-U', 'postgres', '-i', '-q', '-s', '1', DB]);
}
await admin.end();

const work = await mkdtemp(join(tmpdir(), 'doppel-pgprof-'));
const profileDir = profileDirArg ?? join(work, 'profile');
const child = spawn(process.execPath, ['--cpu-prof', '--cpu-prof-dir', profileDir, '--import', 'tsx', join(here, 'pg-relay-process.ts'), kind], {
  env: { ...process.env, OUT_DIR: join(work, 'traffic') },
  stdio: ['ignore', 'pipe', 'inherit'],
});
let out = '';
child.stdout.setEncoding('utf8');
const port = await new Promise<number>((resolve, reject) => {
  child.stdout.on('data', (d: string) => {
    out += d;
    const m = /port (\d+)/.exec(out);
    if (m) resolve(Number(m[1]));
  });
  child.once('exit', (code) => reject(new Error(`relay process exited (${code}) before listening`)));
});
const { stdout } = await run('pgbench', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-n', '-S', '-M', mode, '-c', '8', '-j', '2', '-T', secondsArg, DB], {
  maxBuffer: 16 * 1024 * 1024,
});
const tx = Number(/number of transactions actually processed: (\d+)/.exec(stdout)?.[1] ?? NaN);
const tps = Number(/tps = ([\d.]+)/.exec(stdout)?.[1] ?? NaN);
const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
child.kill('SIGTERM');
await exited;
const last = out.trim().split('\n').pop() ?? '{}';
const stats = JSON.parse(last) as { cpuUs?: number; recorded?: number; dropped?: number };
// CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the relay's; tsx's loader thread writes one too.
const files = (await readdir(profileDir)).filter((f) => /^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(f)).sort();
const profileFile = join(profileDir, files[files.length - 1] ?? '');
const profile = JSON.parse(await readFile(profileFile, 'utf8')) as CpuProfile;
process.stdout.write(
  [
    `${kind} relay, pgbench -S -M ${mode}, 8 clients, ${secondsArg} s: ${tx} transactions, ${fmt(tps, 0)} tps`,
    `relay CPU per transaction: ${fmt((stats.cpuUs ?? NaN) / tx, 1)} us${kind === 'record' ? `; recorded ${stats.recorded}, dropped ${stats.dropped}` : ''}`,
    `profile: ${profileFile}`,
    '',
    summarise(profile, 35),
    '',
  ].join('\n'),
);
if (profileDirArg === undefined) await rm(work, { recursive: true, force: true });
else await rm(join(work, 'traffic'), { recursive: true, force: true });
