import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { request } from 'undici';
import { startCli } from '../helpers/cli.js';
import { readExchanges, startUpstream, tempDir, type Upstream } from '../helpers/http.js';



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
