/**
 * Re-records the orders demo traffic against REAL dependencies, reproducibly:
 *
 *   1. recreates the database `doppel_demo` on 127.0.0.1:5432 (user postgres, trust) and loads schema.sql;
 *   2. starts the fake payment API;
 *   3. starts `doppel record` with an inbound proxy in front of v1, an HTTP
 *      dependency port in front of the payment API and a Postgres dependency
 *      port in front of the real server;
 *   4. starts v1 pointed at the dependency ports;
 *   5. sends the traffic generator's workload through the record proxy;
 *   6. stops v1, then doppel (SIGTERM flushes the store), then the payment API.
 *
 *   npx tsx examples/orders/record.ts [--out DIR] [--database NAME]
 *
 * Ports (all on 127.0.0.1) can be moved with environment variables:
 * RECORD_PROXY_PORT (18080), ORDERS_PORT (18081), PAYMENT_API_PORT (18090),
 * PAYMENTS_DEP_PORT (18091), DB_DEP_PORT (16432), RECORD_ADMIN_PORT (14190).
 * PGHOST/PGPORT/PGUSER choose the real Postgres (127.0.0.1, 5432, postgres).
 * The dependency ports match the mocks in doppel.yaml, so the recorded
 * DATABASE_URL and PAYMENT_API_URL are the ones the replayed builds use.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, readdir, rm } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { runWorkload } from './traffic-generator.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../..');
const DOPPEL_BIN = join(ROOT, 'bin/doppel.js');

export interface RecordOptions {
  out: string;
  database: string;
  ports: { proxy: number; orders: number; paymentApi: number; paymentsDep: number; dbDep: number; admin: number };
  pg: { host: string; port: number; user: string };
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
}

export function readRecordOptions(argv: string[], env: NodeJS.ProcessEnv): RecordOptions {
  const { values } = parseArgs({
    args: argv,
    options: { out: { type: 'string', default: join(HERE, 'traffic') }, database: { type: 'string', default: 'doppel_demo' } },
  });
  const port = (name: string, def: number) => {
    const raw = env[name];
    const v = raw === undefined || raw === '' ? def : Number(raw);
    if (!Number.isInteger(v) || v < 1 || v > 65535) throw new Error(`${name} must be a port number, got ${JSON.stringify(raw)}`);
    return v;
  };
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(values.database)) throw new Error(`--database must be a plain lower-case identifier, got ${JSON.stringify(values.database)}`);
  return {
    out: resolve(values.out),
    database: values.database,
    ports: {
      proxy: port('RECORD_PROXY_PORT', 18080),
      orders: port('ORDERS_PORT', 18081),
      paymentApi: port('PAYMENT_API_PORT', 18090),
      paymentsDep: port('PAYMENTS_DEP_PORT', 18091),
      dbDep: port('DB_DEP_PORT', 16432),
      admin: port('RECORD_ADMIN_PORT', 14190),
    },
    pg: { host: env.PGHOST ?? '127.0.0.1', port: port('PGPORT', 5432), user: env.PGUSER ?? 'postgres' },
    env,
    log: (line) => console.log(`record: ${line}`),
  };
}

interface Child {
  name: string;
  proc: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function startChild(name: string, args: string[], env: NodeJS.ProcessEnv): Child {
  const proc = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => {
    // The tail is enough to explain a failure; a long recording must not grow this without bound.
    out = (out + d.toString()).slice(-16_384);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<number | null>((res) => proc.once('close', (code) => res(code)));
  return { name, proc, output: () => out, exited };
}

async function stopChild(child: Child, graceMs = 10_000): Promise<number | null> {
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) return child.proc.exitCode;
  child.proc.kill('SIGTERM');
  const timer = setTimeout(() => child.proc.kill('SIGKILL'), graceMs);
  try {
    return await child.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `url` until it answers 2xx; fails early, with the child's output, if the child exits. */
async function waitReady(child: Child, url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void child.exited.then(() => (exited = true));
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${child.name} exited with ${child.proc.exitCode} before it was ready:\n${child.output()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${child.name} was not ready at ${url} within ${timeoutMs / 1000}s:\n${child.output()}`);
}

async function recreateDatabase(o: RecordOptions): Promise<void> {
  const admin = new pg.Client({ host: o.pg.host, port: o.pg.port, user: o.pg.user, database: 'postgres' });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${o.database} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${o.database}`);
  } finally {
    await admin.end();
  }
  const db = new pg.Client({ host: o.pg.host, port: o.pg.port, user: o.pg.user, database: o.database });
  await db.connect();
  try {
    await db.query(await readFile(join(HERE, 'schema.sql'), 'utf8'));
  } finally {
    await db.end();
  }
}

const TRAFFIC_FILE = /^(manifest\.json|exchanges-\d+\.ndjson(\.gz)?)$/;

/** Refuses an output directory that holds anything but traffic files (it is emptied before recording). */
async function checkTrafficDir(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  const foreign = names.filter((n) => !TRAFFIC_FILE.test(n));
  if (foreign.length > 0) throw new Error(`${dir} holds files that are not traffic (${foreign.slice(0, 3).join(', ')}); choose another --out`);
}

export async function recordDemo(o: RecordOptions): Promise<{ requests: number }> {
  const host = '127.0.0.1';
  const p = o.ports;
  const children: Child[] = [];
  try {
    await checkTrafficDir(o.out);
    o.log(`database ${o.database} on ${o.pg.host}:${o.pg.port}: recreating and loading schema.sql`);
    await recreateDatabase(o);
    await rm(o.out, { recursive: true, force: true });

    const payments = startChild('payment API', ['--import', 'tsx', join(HERE, 'payment-api.ts')], {
      ...o.env,
      HOST: host,
      PORT: String(p.paymentApi),
    });
    children.push(payments);
    await waitReady(payments, `http://${host}:${p.paymentApi}/healthz`);

    const doppelArgs = [
      DOPPEL_BIN,
      'record',
      '--out',
      o.out,
      '--listen',
      `${host}:${p.proxy}`,
      '--upstream',
      `http://${host}:${p.orders}`,
      '--http-dep',
      `payments=${host}:${p.paymentsDep},http://${host}:${p.paymentApi}`,
      '--pg-dep',
      `db=${host}:${p.dbDep},${o.pg.host}:${o.pg.port}`,
      '--admin',
      `${host}:${p.admin}`,
    ];
    o.log(`doppel ${doppelArgs.slice(1).join(' ')}`);
    // The demo traffic carries no secrets; a fixed key keeps any placeholder stable across re-recordings.
    const doppel = startChild('doppel record', doppelArgs, { ...o.env, DOPPEL_REDACT_KEY: o.env.DOPPEL_REDACT_KEY ?? 'orders-demo' });
    children.push(doppel);
    await waitReady(doppel, `http://${host}:${p.admin}/readyz`);

    const orders = startChild('orders v1', ['--import', 'tsx', join(HERE, 'server-v1.ts')], {
      ...o.env,
      HOST: host,
      PORT: String(p.orders),
      DATABASE_URL: `postgres://${o.pg.user}@${host}:${p.dbDep}/${o.database}`,
      PAYMENT_API_URL: `http://${host}:${p.paymentsDep}`,
      LOG_LEVEL: 'warn',
    });
    children.push(orders);
    await waitReady(orders, `http://${host}:${p.orders}/healthz`);

    o.log(`sending the workload through http://${host}:${p.proxy}`);
    const exchanges = await runWorkload(`http://${host}:${p.proxy}`);
    const failed = exchanges.filter((e) => e.status >= 500);
    if (failed.length > 0) throw new Error(`${failed.length} of ${exchanges.length} requests failed with 5xx; first: ${JSON.stringify(failed[0])}`);

    // v1 first, so its pool closes its Postgres connections through the recorder;
    // then doppel, whose SIGTERM flushes the store.
    await stopChild(orders);
    const code = await stopChild(doppel, 30_000);
    if (code !== 0) throw new Error(`doppel record exited with ${code}:\n${doppel.output()}`);
    await stopChild(payments);

    const manifest = await readFile(join(o.out, 'manifest.json'), 'utf8').catch(() => undefined);
    o.log(`${exchanges.length} requests recorded into ${relative(process.cwd(), o.out) || '.'}${manifest === undefined ? '' : `\n${manifest}`}`);
    return { requests: exchanges.length };
  } finally {
    for (const c of children.reverse()) await stopChild(c);
  }
}

function isEntry(): boolean {
  const entry = process.argv[1];
  return entry !== undefined && import.meta.url === pathToFileURL(realpathSync(entry)).href;
}

if (isEntry()) {
  try {
    await recordDemo(readRecordOptions(process.argv.slice(2), process.env));
  } catch (err) {
    console.error(`record: ${(err as Error).message}`);
    process.exitCode = 1;
  }
}
