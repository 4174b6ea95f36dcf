import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../src/admin/server.js';
import { createAdminProviders } from '../../src/admin/types.js';
import { createLogger } from '../../src/core/logger.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { DoppelError } from '../../src/core/errors.js';
import { requireTool } from '../helpers/services.js';

const execFileAsync = promisify(execFile);

const METRIC_NAMES = [
  'doppel_exchanges_recorded_total',
  'doppel_record_dropped_total',
  'doppel_exchanges_truncated_total',
  'doppel_store_corrupt_lines_total',
  'doppel_redactions_total',
  'doppel_mock_requests_total',
  'doppel_replay_requests_total',
  'doppel_compare_total',
  'doppel_compare_fields_total',
  'doppel_response_duration_seconds',
  'doppel_shadow_dropped_total',
  'doppel_http_bad_requests_total',
  'doppel_upstream_failures_total',
  'doppel_gate_value',
  'doppel_gate_threshold',
  'doppel_gate_passing',
];

const silent = createLogger({ level: 'silent' });
let servers: AdminServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

async function start(listen: string, token?: string) {
  const metrics = createMetrics();
  const providers = createAdminProviders();
  const server = await startAdminServer({ listen, token, metrics, log: silent, providers });
  servers.push(server);
  return { server, metrics, providers };
}

describe('admin API', () => {
  it('serves health, readiness and empty API sets on loopback without a token', async () => {
    const { server, providers } = await start('127.0.0.1:0');
    expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({ status: 'ok' });
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    let ready = false;
    providers.readiness.push(() => ready);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
    ready = true;
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    expect(await (await fetch(`${server.url}/api/runs`)).json()).toEqual({ runs: [] });
    expect(await (await fetch(`${server.url}/api/unmatched`)).json()).toEqual({ unmatched: [], overflow: 0 });
    expect((await fetch(`${server.url}/api/runs/nope`)).status).toBe(404);
  });

  it('shows the whole metric schema with HELP and TYPE on one scrape', async () => {
    const { server } = await start('127.0.0.1:0');
    const res = await fetch(`${server.url}/metrics`);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    for (const name of METRIC_NAMES) {
      expect(text).toContain(`# HELP ${name} `);
      expect(text).toMatch(new RegExp(`# TYPE ${name} (counter|gauge|histogram)`));
    }
  });

  it('passes promtool check metrics on a real scrape', async (ctx) => {
    const promtool = requireTool(ctx, 'promtool', 'prometheus');
    const { server, metrics } = await start('127.0.0.1:0');
    metrics.compare.inc({ run_id: 'r1', mode: 'replay', endpoint: 'GET /orders/:id', result: 'match' });
    metrics.responseDuration.observe({ run_id: 'r1', side: 'candidate', endpoint: 'GET /orders/:id' }, 0.012);
    metrics.gatePassing.set({ run_id: 'r1', gate: 'status_pass_rate' }, 1);
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const dir = await mkdtemp(join(tmpdir(), 'doppel-metrics-'));
    const file = join(dir, 'scrape.txt');
    await writeFile(file, text);
    const { stdout, stderr } = await execFileAsync('sh', ['-c', `"${promtool}" check metrics < "${file}"`]);
    expect(stdout + stderr).toBe('');
  });

  it('refuses to start off loopback without DOPPEL_ADMIN_TOKEN', async () => {
    await expect(start('0.0.0.0:0')).rejects.toMatchObject({ code: 'DOPPEL_ADMIN_TOKEN_REQUIRED', exitCode: 2 });
    await expect(start('0.0.0.0:0')).rejects.toBeInstanceOf(DoppelError);
  });

  it('off loopback requires the bearer token on every route but /healthz and /readyz', async () => {
    const { server } = await start('0.0.0.0:0', 's3cret');
    const url = server.url.replace('0.0.0.0', '127.0.0.1');
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    for (const path of ['/metrics', '/api/runs', '/api/unmatched']) {
      expect((await fetch(`${url}${path}`)).status).toBe(401);
      expect((await fetch(`${url}${path}`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
      expect((await fetch(`${url}${path}`, { headers: { authorization: 'Bearer s3cret' } })).status).toBe(200);
    }
  });

  it('POST /api/mocks/reset resets every registered mock', async () => {
    const { server, providers } = await start('127.0.0.1:0');
    let resets = 0;
    providers.mocks.push({ reset: () => resets++ }, { reset: () => resets++ });
    const res = await fetch(`${server.url}/api/mocks/reset`, { method: 'POST' });
    expect(await res.json()).toEqual({ reset: 2 });
    expect(resets).toBe(2);
  });
});

describe('logging', () => {
  it('redacts credentials in log lines', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    const log = createLogger({ level: 'info', destination: sink });
    log.child({ component: 'test' }).info({ headers: { authorization: 'Bearer abc', accept: 'x' }, password: 'pw' }, 'request');
    log.flush();
    const entry = JSON.parse(lines.join('').trim());
    expect(entry).toMatchObject({ component: 'test', msg: 'request', password: '[redacted]', headers: { authorization: '[redacted]', accept: 'x' } });
  });
});
