/**
 * examples/orders/record.ts: re-recording the demo against real Postgres and
 * the real payment API through `doppel record`.
 */
import { createServer, type Server } from 'node:net';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { serviceProblem, skipOrFail, type SkipContext } from '../helpers/services.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** Skips the test when Postgres is not reachable (fails it under CI). */
async function requirePostgres(ctx: SkipContext): Promise<void> {
  const problem = await serviceProblem('Postgres on 127.0.0.1:5432', async () => {
    const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
    await client.connect();
    await client.end();
  });
  if (problem !== undefined) skipOrFail(ctx, problem);
}

function listen(port = 0): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
}

function close(srv: Server): Promise<void> {
  return new Promise((resolve) => srv.close(() => resolve()));
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => listen()));
  const ports = servers.map((s) => {
    const a = s.address();
    return typeof a === 'object' && a !== null ? a.port : 0;
  });
  await Promise.all(servers.map(close));
  return ports;
}

function runRecord(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/orders/record.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function portEnv() {
  const [proxy, orders, paymentApi, paymentsDep, dbDep, admin] = await freePorts(6);
  return {
    ports: { proxy: proxy!, orders: orders!, paymentApi: paymentApi!, paymentsDep: paymentsDep!, dbDep: dbDep!, admin: admin! },
    env: {
      RECORD_PROXY_PORT: String(proxy),
      ORDERS_PORT: String(orders),
      PAYMENT_API_PORT: String(paymentApi),
      PAYMENTS_DEP_PORT: String(paymentsDep),
      DB_DEP_PORT: String(dbDep),
      RECORD_ADMIN_PORT: String(admin),
    },
  };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function scratch() {
  const dir = await mkdtemp(join(tmpdir(), 'doppel-record-demo-'));
  const database = `doppel_record_${randomBytes(4).toString('hex')}`;
  cleanups.push(async () => {
    await rm(dir, { recursive: true, force: true });
    const client = new pg.Client({ connectionString: ADMIN_URL });
    await client.connect();
    await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await client.end();
  });
  return { out: join(dir, 'traffic'), database };
}

describe('orders demo re-recording script', () => {
  it('stops with doppel record\'s own message and leaves no process listening when the recorder cannot start', async (ctx) => {
    await requirePostgres(ctx);
    const { out, database } = await scratch();
    const { ports, env } = await portEnv();
    // The record proxy's port is taken, so doppel record cannot start whatever else it can do.
    const squatter = await listen(ports.proxy);
    cleanups.push(() => close(squatter));
    const res = await runRecord(['--out', out, '--database', database], env);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/record: doppel record exited with \d+ before it was ready/);
    expect(res.stderr).toContain('doppel');
    // The payment API it had started is gone: its port can be bound again.
    await close(await listen(ports.paymentApi));
  });

  it('refuses to clear an output directory that holds something other than traffic', async (ctx) => {
    await requirePostgres(ctx);
    const { out, database } = await scratch();
    const { env } = await portEnv();
    const { mkdir, writeFile } = await import('node:fs/promises');
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'notes.txt'), 'keep me');
    const res = await runRecord(['--out', out, '--database', database], env);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('holds files that are not traffic (notes.txt)');
    expect(await readFile(join(out, 'notes.txt'), 'utf8')).toBe('keep me');
  });

  it('rejects a port variable that is not a port number', async () => {
    const res = await runRecord([], { RECORD_PROXY_PORT: 'http' });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('RECORD_PROXY_PORT must be a port number');
  });

  it('records the workload: inbound requests with their sessions, payment calls and Postgres statements', async (ctx) => {
    await requirePostgres(ctx);
    const { out, database } = await scratch();
    const { env } = await portEnv();
    const res = await runRecord(['--out', out, '--database', database], env);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const files = (await readdir(out)).sort();
    expect(files).toContain('manifest.json');
     
    const lines: Array<Record<string, any>> = [];
    for (const f of files.filter((n) => n.endsWith('.ndjson'))) {
      for (const line of (await readFile(join(out, f), 'utf8')).split('\n')) if (line.trim()) lines.push(JSON.parse(line));
    }
    const inbound = lines.filter((e) => e.direction === 'inbound' && e.protocol === 'http');
    const payments = lines.filter((e) => e.direction === 'outbound' && e.service === 'payments');
    const db = lines.filter((e) => e.direction === 'outbound' && e.service === 'db' && e.protocol === 'pg');
    const summary = /(\d+) requests recorded/.exec(res.stdout);
    expect(summary).not.toBeNull();
    expect(inbound.length).toBe(Number(summary![1]));
    // The session check below means nothing over zero requests.
    expect(inbound.length).toBeGreaterThan(0);
    for (const e of inbound) {
      expect(e.http.request.headers.some(([k]: [string, string]) => k.toLowerCase() === 'x-session-id')).toBe(true);
    }
    expect(payments.some((e) => e.http.request.url === '/payments')).toBe(true);
    expect(payments.some((e) => /^\/payments\/pay_\d+\/refunds$/.test(e.http.request.url))).toBe(true);
    expect(db.some((e) => e.pg.request.kind === 'extended' && /^INSERT INTO orders/.test(e.pg.request.sql))).toBe(true);
    expect(db.some((e) => e.pg.request.kind === 'extended' && /FROM orders WHERE customer = \$1 ORDER BY id/.test(e.pg.request.sql))).toBe(true);
  });
});
