/**
 * Every kind of listener doppel opens — admin API, record proxy, dependency
 * proxies and Postgres relays, shadow listener, candidate live mocks, HTTP and
 * Postgres mocks, `run`'s mocks — fails the same way when its address is
 * taken: exit 2, the address, why, and the flag or config key that moves it.
 * Never "internal error" and exit 4. Each port is really occupied first, and
 * doppel is started through its CLI.
 */
import { createServer, type Server } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli, startCli, type CliResult } from '../helpers/cli.js';

const TRAFFIC = join(ROOT, 'examples', 'orders', 'traffic');
const REASON = 'address already in use (another process is listening there)';

/** A plain TCP listener holding a port, as another program would. */
async function occupy(): Promise<{ server: Server; address: string }> {
  const server = createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, address: `127.0.0.1:${(server.address() as { port: number }).port}` };
}

function expectTaken(r: CliResult, address: string, flag: string): void {
  expect(r.stderr).not.toContain('internal error');
  expect(r.stderr).toContain(`doppel: cannot listen on ${address}: ${REASON}; choose another address with ${flag}`);
  expect(r.code).toBe(2);
}

describe('a listener whose address is taken', () => {
  let taken: { server: Server; address: string };
  let dir: string;
  const quiet = ['--log-level', 'warn'];
  beforeAll(async () => {
    taken = await occupy();
    dir = await mkdtemp(join(tmpdir(), 'doppel-taken-'));
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => taken.server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  it('admin API: a second long-running doppel on the first one\'s admin address exits 2 and the first keeps serving', async () => {
    const first = startCli(['mock', '--traffic', TRAFFIC, '--http-dep', 'payments=127.0.0.1:0', '--admin', '127.0.0.1:0']);
    try {
      const admin = (await first.waitFor('admin api listening')).address as string;
      const second = await runCli(['record', '--out', join(dir, 'rec-admin'), '--upstream', 'http://127.0.0.1:9', '--admin', admin, ...quiet]);
      expectTaken(second, admin, '--admin ADDR (admin.listen)');
      const health = await fetch(`http://${admin}/healthz`);
      expect(health.status).toBe(200);
    } finally {
      expect(await first.stop()).toBe(0);
    }
  });

  it('record: the inbound proxy, an HTTP dependency proxy and a Postgres relay', async () => {
    const a = taken.address;
    const out = ['--out', join(dir, 'rec'), '--admin', '127.0.0.1:0', ...quiet];
    expectTaken(await runCli(['record', '--listen', a, '--upstream', 'http://127.0.0.1:9', ...out]), a, '--listen ADDR (record.listen)');
    expectTaken(await runCli(['record', '--http-dep', `payments=${a},http://127.0.0.1:9`, ...out]), a, '--http-dep payments=LISTEN,TARGET_URL (record.http_deps)');
    expectTaken(await runCli(['record', '--pg-dep', `db=${a},127.0.0.1:5432`, ...out]), a, '--pg-dep db=LISTEN,HOST:PORT (record.pg_deps)');
  });

  it('mock: an HTTP mock port and a Postgres mock port', async () => {
    const a = taken.address;
    const rest = ['--traffic', TRAFFIC, '--admin', '127.0.0.1:0', ...quiet];
    expectTaken(await runCli(['mock', '--http-dep', `payments=${a}`, ...rest]), a, '--http-dep payments=LISTEN[,TARGET_URL]');
    expectTaken(await runCli(['mock', '--pg-dep', `db=${a}`, ...rest]), a, '--pg-dep db=LISTEN[,HOST:PORT]');
  });

  it('shadow: the listener, a primary dependency relay and the candidate live mocks', async () => {
    const a = taken.address;
    const base = ['shadow', '--primary', 'http://127.0.0.1:9', '--candidate', 'http://127.0.0.1:9', '--admin', '127.0.0.1:0', ...quiet];
    expectTaken(await runCli([...base, '--listen', a]), a, '--listen ADDR (shadow.listen)');
    expectTaken(await runCli([...base, '--listen', '127.0.0.1:0', '--pg-dep', `db=${a},127.0.0.1:5432`]), a, '--pg-dep db=LISTEN,HOST:PORT (shadow.pg_deps)');
    expectTaken(
      await runCli([...base, '--listen', '127.0.0.1:0', '--http-dep', 'payments=127.0.0.1:0,http://127.0.0.1:9', '--candidate-http-dep', `payments=${a}`]),
      a,
      '--candidate-http-dep payments=LISTEN (shadow.candidate_http_deps)',
    );
    expectTaken(
      await runCli([...base, '--listen', '127.0.0.1:0', '--pg-dep', 'db=127.0.0.1:0,127.0.0.1:5432', '--candidate-pg-dep', `db=${a}`]),
      a,
      '--candidate-pg-dep db=LISTEN (shadow.candidate_pg_deps)',
    );
  });

  it('run: a mock of the config file fails the backends phase, exit 2, naming its key', async () => {
    const a = taken.address;
    for (const protocol of ['http', 'pg'] as const) {
      const file = join(dir, `run-${protocol}.yaml`);
      await writeFile(file, stringify({ mocks: [{ service: 'dep', protocol, listen: a, traffic: TRAFFIC }], replay: { target: 'http://127.0.0.1:9', traffic: TRAFFIC } }));
      const r = await runCli(['run', file, ...quiet]);
      expect(r.stdout).toContain('✗ backends failed: cannot listen on');
      expectTaken(r, a, 'mocks[dep].listen');
    }
  });

  it('an address this machine does not have is exit 2 too, saying so', async () => {
    // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never assigned to a local interface.
    const r = await runCli(['record', '--out', join(dir, 'rec-na'), '--listen', '192.0.2.1:0', '--upstream', 'http://127.0.0.1:9', '--admin', '127.0.0.1:0', ...quiet]);
    expect(r.stderr).toContain('doppel: cannot listen on 192.0.2.1:0: address not available on this machine; choose another address with --listen ADDR (record.listen)');
    expect(r.code).toBe(2);
  });
});
