/**
 * `doppel run` with a `mocks:` entry of protocol grpc: the gRPC mock starts
 * in-process beside the others, the service under test's @grpc/grpc-js
 * calls are answered from the recording, and a call nobody recorded shows up
 * in the run's unmatched list, in doppel_mock_requests_total{protocol="grpc"}
 * and in the mock counts the gates and the report read.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ROOT, startCli } from '../helpers/cli.js';
import { httpExchange } from '../helpers/exchanges.js';
import { getOrder, GRPC_PROTO_DIR, recordOrdersCalls, startOrdersServer } from '../helpers/grpc-peers.js';
import { tempDir } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';
import { until } from '../helpers/until.js';
import { openStoreWriter } from '../../src/store/open-store.js';

const ORDER = (id: string) => ({ order: { id, total: { currency: 'EUR', units: '42' }, items: ['book', 'pen'], createdAtMs: '1700000000000' } });

describe('doppel run with a gRPC mock', () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('answers the SUT from the recording and reports the one planted miss', async () => {
    const work = await tempDir('doppel-run-grpc-');
    cleanups.push(work.cleanup);
    const grpcTraffic = join(work.dir, 'grpc-traffic');
    const inbound = join(work.dir, 'inbound');
    const report = join(work.dir, 'report');

    const server = await startOrdersServer();
    cleanups.push(() => server.close());
    await recordOrdersCalls(server.url, grpcTraffic, async (c) => {
      await getOrder(c, 'o-1');
      await getOrder(c, 'o-2');
    });
    await server.close();

    // The inbound traffic the run replays: two orders the recording knows, one it does not, and a call held open.
    const writer = await openStoreWriter(inbound);
    for (const id of ['o-1', 'o-2', 'o-404']) await writer.append(httpExchange({ url: `/orders/${id}`, body: JSON.stringify(ORDER(id)) }));
    await writer.append(httpExchange({ url: '/hold', body: '{"held":true}' }));
    await writer.close();

    const mockPort = await freePort();
    const sutPort = await freePort();
    const file = join(work.dir, 'doppel.yaml');
    await writeFile(
      file,
      stringify({
        grpc: { protos: [GRPC_PROTO_DIR] },
        mocks: [{ service: 'orders', protocol: 'grpc', listen: `127.0.0.1:${mockPort}`, traffic: grpcTraffic }],
        sut: {
          command: 'node test/fixtures/grpc-sut.mjs',
          cwd: ROOT,
          env: { PORT: String(sutPort), ORDERS_GRPC: `127.0.0.1:${mockPort}` },
          health: `http://127.0.0.1:${sutPort}/healthz`,
          ready_seconds: 0.2,
        },
        replay: { target: `http://127.0.0.1:${sutPort}`, traffic: inbound, report },
        quality_gates: { mock_match_rate: '>= 0.99' },
      }),
    );

    const run = startCli(['run', file, '--admin', '127.0.0.1:0']);
    cleanups.push(() => run.stop());
    const admin = (await run.waitFor('admin api listening')).address as string;
    const mockLine = await run.waitFor('grpc mock listening');
    expect(mockLine.address).toBe(`127.0.0.1:${mockPort}`);

    // While /hold keeps the replay open, the run's admin API shows the miss and the counters.
    let unmatched = '';
    await until('the planted miss is listed', async () => {
      unmatched = await (await request(`http://${admin}/api/unmatched`)).body.text();
      return unmatched.includes('o-404');
    }, 30_000);
    const listed = JSON.parse(unmatched) as { unmatched: Array<{ protocol: string; request: unknown; nearest: { differs: string[] } }> };
    expect(listed.unmatched).toHaveLength(1);
    expect(listed.unmatched[0]).toMatchObject({ protocol: 'grpc', request: { method: '/shop.v1.Orders/GetOrder', messages: [{ id: 'o-404' }] }, nearest: { differs: ['$.id'] } });
    const metrics = await (await request(`http://${admin}/metrics`)).body.text();
    expect(metrics).toMatch(/doppel_mock_requests_total\{service="orders",protocol="grpc",result="matched"\} 2/);
    expect(metrics).toMatch(/doppel_mock_requests_total\{service="orders",protocol="grpc",result="unmatched"\} 1/);
    await request(`http://127.0.0.1:${sutPort}/release`);

    // One miss in three calls fails mock_match_rate: exit 1, the gate failed.
    const code = await new Promise<number | null>((resolve) => (run.child.exitCode !== null ? resolve(run.child.exitCode) : run.child.once('exit', resolve)));
    expect(code).toBe(1);
    const summary = JSON.parse(await readFile(join(report, 'summary.json'), 'utf8'));
    expect(summary.counts.mock).toEqual({ matched: 2, unmatched: 1, passthrough: 0 });
    expect(summary.gates.find((g: { gate: string }) => g.gate === 'mock_match_rate').isPassing).toBe(false);
    // The matched calls were answered as recorded: only the planted miss differs from the recorded inbound answers.
    const diffs = (await readFile(join(report, 'diffs.ndjson'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(diffs.map((d: { url?: string; endpoint: string }) => d.url ?? d.endpoint)).toEqual([expect.stringContaining('o-404')]);
  }, 120_000);
});
