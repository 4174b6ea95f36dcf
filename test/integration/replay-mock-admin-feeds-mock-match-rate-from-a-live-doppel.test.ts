/**
 * `--mock-admin URL` against a real doppel admin server: the candidate calls
 * a real HTTP dependency that stands in for a doppel mock and moves that
 * daemon's doppel_mock_requests_total while the run goes on. The replay must
 * reset the mock (POST /api/mocks/reset), count only the calls made during
 * the run, and turn them into mock_match_rate.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { createDaemon, type Daemon } from '../../src/daemon.js';
import { parseConfig } from '../../src/config/load.js';
import { readRuntimeEnv } from '../../src/config/env.js';
import { runCli } from '../helpers/cli.js';
import { recordTraffic, tempDir, type PlannedRequest, type Service } from '../helpers/replay-fixtures.js';

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}

describe('replay --mock-admin reads mock counts from a live doppel admin server', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let daemon: Daemon;
  let adminUrl: string;
  let resets = 0;
  /** ids the stand-in mock has no recorded answer for */
  let unmatchedFrom = Infinity;
  let dependency: Server;
  let candidate: Server;
  let candidateUrl: string;
  let candidateCalls = 0;
  let traffic: string;
  let gates: string;

  beforeAll(async () => {
    dir = await tempDir('doppel-replay-mock-admin-');
    daemon = createDaemon({ config: parseConfig('admin: { listen: "127.0.0.1:0" }', 't.yaml', {}), runtime: readRuntimeEnv({}), logStream: { write: () => true } as never });
    daemon.providers.mocks.push({ reset: () => resets++ });
    adminUrl = (await daemon.startAdmin()).url;

    // The dependency counts each call the way a doppel mock does: matched when it has an answer.
    dependency = createServer((req, res) => {
      const id = Number(/\/prices\/(\d+)/.exec(req.url ?? '')?.[1]);
      const result = id >= unmatchedFrom ? 'unmatched' : 'matched';
      daemon.metrics.mockRequests.labels({ service: 'prices', protocol: 'http', result }).inc();
      res.writeHead(result === 'matched' ? 200 : 502, { 'content-type': 'application/json' });
      res.end(JSON.stringify(result === 'matched' ? { price: id * 3 } : { error: 'no recorded answer' }));
    });
    const dependencyUrl = await listen(dependency);

    // The candidate answers GET /orders/:id with the price its dependency gives.
    candidate = createServer((req, res) => {
      candidateCalls++;
      const id = Number(/^\/orders\/(\d+)$/.exec(req.url ?? '')?.[1]);
      void request(`${dependencyUrl}/prices/${id}`).then(async (r) => {
        const price = r.statusCode === 200 ? ((await r.body.json()) as { price: number }).price : (await r.body.dump(), 0);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id, price }));
      });
    });
    candidateUrl = await listen(candidate);

    traffic = join(dir.path, 'traffic');
    const plan: PlannedRequest[] = [];
    for (let i = 1; i <= 10; i++) plan.push({ method: 'GET', url: `/orders/${i}`, session: `s${i}` });
    // Recording goes through the dependency too: these 10 matched calls happened before any run.
    await recordTraffic({ url: candidateUrl, seen: [], close: async () => {} } satisfies Service, traffic, plan);
    gates = join(dir.path, 'gates.yaml');
    writeFileSync(gates, 'quality_gates:\n  mock_match_rate: ">= 0.9"\n');
  });

  afterAll(async () => {
    await close(candidate);
    await close(dependency);
    await daemon.close();
    await dir.cleanup();
  });

  const replay = (report: string) =>
    runCli(['replay', '--traffic', traffic, '--target', candidateUrl, '--mock-admin', adminUrl, '--gates', gates, '--report', report, '--time-scale', '1000', '--log-level', 'warn'], {
      env: { CI: '' },
      // under the integration tests' 60 s, so a hung replay fails with its output
      timeoutMs: 45_000,
    });

  it('fails mock_match_rate when 3 of the 10 calls made during the run found no answer, and resets the mock first', async () => {
    unmatchedFrom = 8;
    const resetsBefore = resets;
    const report = join(dir.path, 'r-fail');
    const r = await replay(report);
    expect(r.stderr).not.toContain('internal error');
    expect(r.code).toBe(1);
    expect(resets - resetsBefore).toBe(1);
    // 7 / 10: the 10 matched calls made while recording do not count
    expect(r.stdout).toMatch(/mock_match_rate\s+0\.70*\s+>= 0\.9\s+fail/i);
    const summary = JSON.parse(readFileSync(join(report, 'summary.json'), 'utf8'));
    const gate = (summary.gates as Array<{ gate: string; value: number; isPassing: boolean }>).find((g) => g.gate === 'mock_match_rate');
    expect(gate).toMatchObject({ value: 0.7, isPassing: false });
  });

  it('passes when every call made during the run matched', async () => {
    unmatchedFrom = Infinity;
    const resetsBefore = resets;
    const r = await replay(join(dir.path, 'r-pass'));
    expect(r.code).toBe(0);
    expect(resets - resetsBefore).toBe(1);
    expect(r.stdout).toMatch(/mock_match_rate\s+1(\.0+)?\s+>= 0\.9\s+pass/i);
  });

  it('exits 3 naming the mock admin URL when it answers nothing, before sending anything', async () => {
    const gone = createServer();
    const url = await listen(gone);
    await close(gone);
    const callsBefore = candidateCalls;
    const r = await runCli(['replay', '--traffic', traffic, '--target', candidateUrl, '--mock-admin', url, '--time-scale', '1000', '--log-level', 'warn'], { env: { CI: '' }, timeoutMs: 60_000 });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(url);
    expect(candidateCalls).toBe(callsBefore);
  });
});
