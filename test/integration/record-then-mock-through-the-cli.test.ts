import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { request } from 'undici';
import { readExchanges, startUpstream, tempDir, type Upstream } from './http-test-helpers.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = join(root, 'bin', 'doppel.js');

interface Running {
  child: ChildProcess;
  logs: Array<Record<string, unknown>>;
  waitFor(msg: string, pred?: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  stop(): Promise<number | null>;
}

function startCli(args: string[], env: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, [bin, ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  let rest = '';
  let stderrText = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderrText += d.toString();
    rest += d.toString();
    const lines = rest.split('\n');
    rest = lines.pop() ?? '';
    for (const l of lines) {
      if (!l.startsWith('{')) continue;
      try {
        logs.push(JSON.parse(l));
      } catch {
        /* a partial line from another writer */
      }
    }
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    child,
    logs,
    async waitFor(msg, pred = () => true) {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const hit = logs.find((l) => l.msg === msg && pred(l));
        if (hit) return hit;
        if (child.exitCode !== null) throw new Error(`doppel exited ${child.exitCode}: ${stderrText}`);
        if (Date.now() > deadline) throw new Error(`no "${msg}" log line; stderr: ${stderrText}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200);
        });
      }
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGINT');
      return exited;
    },
  };
}

describe('record then mock through the CLI', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('records a service and its HTTP dependency, then serves the dependency with doppel mock', async () => {
    const traffic = await tempDir();
    cleanups.push(traffic.cleanup);
    const payments: Upstream = await startUpstream((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, ['Content-Type', 'application/json', 'X-Payments', 'real']);
        res.end(JSON.stringify({ paid: req.url }));
      });
    });
    cleanups.push(() => payments.close());
    let paymentApiUrl = '';
    // the service under test: calls its payment API, propagating traceparent
    const orders: Upstream = await startUpstream((req, res) => {
      req.resume();
      req.on('end', () => {
        void (async () => {
          const tp = req.headers.traceparent;
          const r = await request(`${paymentApiUrl}/pay${req.url ?? ''}`, { headers: tp ? { traceparent: tp } : {} });
          const paid = await r.body.text();
          res.writeHead(200, ['Content-Type', 'application/json']);
          res.end(JSON.stringify({ order: req.url, payment: JSON.parse(paid) }));
        })();
      });
    });
    cleanups.push(() => orders.close());

    const rec = startCli(
      ['record', '--out', traffic.dir, '--listen', '127.0.0.1:0', '--upstream', orders.url, '--service', 'orders', '--http-dep', `payments=127.0.0.1:0,${payments.url}`, '--admin', '127.0.0.1:0'],
      { DOPPEL_REDACT_KEY: 'test-key' },
    );
    cleanups.push(() => rec.stop());
    const inbound = await rec.waitFor('record proxy listening');
    const depLine = await rec.waitFor('dependency proxy listening');
    const admin = await rec.waitFor('admin api listening');
    paymentApiUrl = `http://${depLine.address as string}`;
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const r = await request(`http://${inbound.address as string}/orders/1`, { headers: { traceparent: tp, authorization: 'Bearer top-secret' } });
    expect(r.statusCode).toBe(200);
    expect(await r.body.json()).toEqual({ order: '/orders/1', payment: { paid: '/pay/orders/1' } });
    const status = await request(`http://${admin.address as string}/api/record`);
    expect(((await status.body.json()) as { recorders: unknown[] }).recorders).toHaveLength(1);
    expect(await rec.stop()).toBe(0);

    const exchanges = await readExchanges(traffic.dir);
    const ib = exchanges.find((e) => e.direction === 'inbound');
    const ob = exchanges.find((e) => e.direction === 'outbound');
    expect(ib?.service).toBe('orders');
    expect(ob?.service).toBe('payments');
    expect(ob?.parent).toBe(ib?.id);
    expect(ob?.session).toBe(ib?.session);
    expect(JSON.stringify(exchanges)).not.toContain('top-secret');

    const mock = startCli(['mock', '--traffic', traffic.dir, '--http-dep', 'payments=127.0.0.1:0', '--admin', '127.0.0.1:0']);
    cleanups.push(() => mock.stop());
    const mockLine = await mock.waitFor('http mock listening');
    const mockAdmin = await mock.waitFor('admin api listening');
    const hit = await request(`http://${mockLine.address as string}/pay/orders/1`);
    expect(hit.statusCode).toBe(200);
    expect(hit.headers['x-payments']).toBe('real');
    expect(await hit.body.json()).toEqual({ paid: '/pay/orders/1' });
    const miss = await request(`http://${mockLine.address as string}/pay/orders/2`);
    expect(miss.statusCode).toBe(404);
    expect(miss.headers['x-doppel-unmatched']).toBe('1');
    expect(((await miss.body.json()) as { nearest: { url: string } }).nearest.url).toBe('/pay/orders/1');
    const unmatched = await request(`http://${mockAdmin.address as string}/api/unmatched`);
    expect(((await unmatched.body.json()) as { unmatched: Array<{ request: { url: string } }> }).unmatched[0]?.request.url).toBe('/pay/orders/2');
    const reset = await request(`http://${mockAdmin.address as string}/api/mocks/reset`, { method: 'POST' });
    expect(await reset.body.json()).toEqual({ reset: 1 });
    const metrics = await (await request(`http://${mockAdmin.address as string}/metrics`)).body.text();
    expect(metrics).toMatch(/doppel_mock_requests_total\{service="payments",protocol="http",result="matched"\} 1/);
    expect(await mock.stop()).toBe(0);
  });

  it('refuses a redaction key file inside the traffic directory with exit 2', async () => {
    const traffic = await tempDir();
    cleanups.push(traffic.cleanup);
    const { writeFile } = await import('node:fs/promises');
    const cfg = join(traffic.dir, '..', `${traffic.dir.split('/').pop() ?? 'x'}.yaml`);
    await writeFile(join(traffic.dir, 'key'), 'k');
    await writeFile(cfg, `redact:\n  key_file: ${join(traffic.dir, 'key')}\n`);
    cleanups.push(async () => (await import('node:fs/promises')).rm(cfg, { force: true }));
    const run = startCli(['--config', cfg, 'record', '--out', traffic.dir, '--upstream', 'http://127.0.0.1:9', '--admin', '127.0.0.1:0']);
    expect(await new Promise((r) => run.child.once('exit', r))).toBe(2);
  });
});
