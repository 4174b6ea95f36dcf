/**
 * `doppel replay --protocol grpc` with what HTTP replay has: --rate paces the
 * calls, --include picks methods, replay.headers sets metadata ({{env.X}}
 * expanded), --baseline pairs each call with an earlier run's result
 * (new_mismatch, latency gates), --secondary answers the noise samples, and
 * the flags that read HTTP alone are refused with exit 2 and a message that
 * names them.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GateResult } from '../../src/gates/types.js';
import { runCli, startCli } from '../helpers/cli.js';
import { getOrder, GRPC_PROTO_DIR, grpc, listOrders, ordersClient, recordInboundOrdersCalls, startOrdersServer, type OrdersServer } from '../helpers/grpc-peers.js';
import { tempDir } from '../helpers/http.js';
import { refusingUrl } from '../helpers/ports.js';

const CALLS = 8;

describe('doppel replay --protocol grpc options', () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  let work: string;
  let traffic: string;

  beforeAll(async () => {
    const t = await tempDir('doppel-grpc-replay-opts-');
    cleanups.push(t.cleanup);
    work = t.dir;
    traffic = join(work, 'traffic');
    const v1 = await startOrdersServer();
    cleanups.push(() => v1.close());
    await recordInboundOrdersCalls(v1.url, traffic, async (client) => {
      for (let i = 1; i <= CALLS - 2; i++) await getOrder(client, `o-${i}`);
      await listOrders(client, 2);
      await getOrder(client, 'o-9', undefined, 'Reject').catch((e: grpc.ServiceError) => e);
    });
  });
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  const server = async (units = 42): Promise<OrdersServer> => {
    const s = await startOrdersServer({ units });
    cleanups.push(() => s.close());
    return s;
  };
  const replay = (target: OrdersServer, args: string[], env: Record<string, string> = {}) =>
    runCli(['replay', '--protocol', 'grpc', '--traffic', traffic, '--target', target.url, ...args], { timeoutMs: 60_000, env });
  const file = async (name: string, text: string) => {
    const path = join(work, name);
    await writeFile(path, text);
    return path;
  };
  const spreadMs = (s: OrdersServer) => (s.received.at(-1)?.at ?? 0) - (s.received[0]?.at ?? 0);

  it('--rate spaces the calls at the rate asked; without it they follow the recorded timing', async () => {
    const paced = await server();
    const unpaced = await server();
    const a = await replay(paced, ['--rate', '4']);
    const b = await replay(unpaced, []);
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    expect(paced.received).toHaveLength(CALLS);
    expect(unpaced.received).toHaveLength(CALLS);
    // Call i is due at i / rate. The first waits for the connection, so the spread counts from the second: 6 gaps of 250 ms.
    const fromSecond = (paced.received.at(-1)?.at ?? 0) - (paced.received[1]?.at ?? 0);
    expect(fromSecond).toBeGreaterThanOrEqual(1_350);
    expect(spreadMs(unpaced)).toBeLessThan(spreadMs(paced));
  });

  it('--include picks methods and replay.headers sets metadata over the recorded one', async () => {
    const s = await server();
    const config = await file('headers.yaml', 'replay:\n  headers:\n    x-tenant: "{{env.TENANT}}"\n');
    const r = await replay(s, ['--config', config, '--include', 'POST /shop.v1.Orders/GetOrder'], { TENANT: 't-9' });
    expect(r.stderr).not.toContain('"level":50');
    expect(r.code).toBe(0);
    expect(s.received.map((c) => c.method)).toEqual(Array.from({ length: CALLS - 2 }, () => 'GetOrder'));
    expect(s.received.map((c) => c.metadata['x-tenant'])).toEqual(Array.from({ length: CALLS - 2 }, () => 't-9'));
    // The recorded metadata still goes out.
    expect(String(s.received[0]?.metadata['user-agent'])).toContain('grpc-node-js');
  });

  it('--baseline pairs calls by exchange id: only mismatches the baseline run did not have fail new_mismatch', async () => {
    const gates = await file('baseline-gates.yaml', 'quality_gates:\n  new_mismatch: "== 0"\n  latency_p95_delta: "<= +100000%"\n');
    const same = join(work, 'base-same');
    const planted = join(work, 'base-planted');
    expect((await replay(await server(42), ['--report', same])).code).toBe(0);
    expect((await replay(await server(43), ['--report', planted])).code).toBe(0);

    const newly = join(work, 'cand-vs-same');
    const r1 = await replay(await server(43), ['--baseline', same, '--gates', gates, '--report', newly]);
    expect(r1.code).toBe(1);
    const g1 = (JSON.parse(await readFile(join(newly, 'summary.json'), 'utf8')) as { gates: GateResult[]; baseline?: string }).gates;
    expect(g1.find((g) => g.gate === 'new_mismatch')).toMatchObject({ value: CALLS - 1, isPassing: false });
    expect(g1.find((g) => g.gate === 'latency_p95_delta')?.value).toBeTypeOf('number');

    const known = join(work, 'cand-vs-planted');
    const r2 = await replay(await server(43), ['--baseline', planted, '--gates', gates, '--report', known]);
    expect(r2.code).toBe(0);
    const summary = JSON.parse(await readFile(join(known, 'summary.json'), 'utf8')) as { gates: GateResult[] };
    expect(summary.gates.find((g) => g.gate === 'new_mismatch')).toMatchObject({ value: 0, isPassing: true });
    expect(JSON.stringify(summary)).toContain(`baseline run ${planted}`);
  });

  it('a latency gate without --baseline is exit 2, as for HTTP', async () => {
    const gates = await file('latency.yaml', 'quality_gates:\n  latency_p95_delta: "<= +10%"\n');
    const s = await server();
    const r = await replay(s, ['--gates', gates]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('latency_p95_delta: a latency gate needs a baseline run');
    expect(s.calls).toBe(0);
  });

  it('refuses with exit 2 the flags that read HTTP alone, naming each, and sends nothing', async () => {
    const s = await server();
    const captures = await file('captures.yaml', 'replay:\n  captures:\n    - { name: orderId, from: "$.id" }\n');
    const cases: Array<[string[], string]> = [
      [['--config', captures], 'replay.captures: captures read JSON bodies and headers of HTTP answers'],
      [['--workers', '2'], '--workers: a distributed replay hands out HTTP sessions'],
      [['--coordinator', 'redis://127.0.0.1:6379/0', '--run-id', 'grpc-run'], '--coordinator: a distributed replay hands out HTTP sessions'],
      [['--dry-run'], '--dry-run lists HTTP requests'],
    ];
    for (const [args, message] of cases) {
      const r = await replay(s, args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toContain(message);
    }
    expect(s.calls).toBe(0);
  });

  it('--secondary answers the noise samples: a field that disagrees with itself is learned as noise, the candidate gets each call once', async () => {
    const noisy = join(work, 'traffic-noisy');
    const recorded = await startOrdersServer({ randomUnits: true });
    cleanups.push(() => recorded.close());
    const rec = startCli(['record', '--out', noisy, '--listen', '127.0.0.1:0', '--upstream', recorded.url, '--protocol', 'grpc'], { DOPPEL_REDACT_KEY: 'k' });
    cleanups.push(() => rec.stop());
    const client = ordersClient((await rec.waitFor('grpc record listener listening')).address as string);
    for (let i = 1; i <= 10; i++) await getOrder(client, `o-${i}`);
    client.close();
    expect(await rec.stop()).toBe(0);

    const config = await file('noise.yaml', `grpc:\n  protos: [${JSON.stringify(GRPC_PROTO_DIR)}]\ncompare:\n  learn_noise: 4\nquality_gates:\n  body_match_rate: ">= 0.99"\n`);
    const candidate = await startOrdersServer({ randomUnits: true });
    const secondary = await startOrdersServer({ randomUnits: true });
    cleanups.push(() => candidate.close());
    cleanups.push(() => secondary.close());
    const report = join(work, 'noise-report');
    const r = await runCli(
      ['replay', '--protocol', 'grpc', '--config', config, '--traffic', noisy, '--target', candidate.url, '--secondary', secondary.url, '--concurrency', '1', '--report', report],
      { timeoutMs: 60_000 },
    );
    expect(r.stderr).not.toContain('"level":50');
    expect(r.code).toBe(0);
    expect(candidate.calls).toBe(10);
    expect(secondary.calls).toBe(4);
    const summary = JSON.parse(await readFile(join(report, 'summary.json'), 'utf8')) as { noise: Array<{ endpoint: string; path: string }> };
    expect(summary.noise).toContainEqual(expect.objectContaining({ endpoint: '/shop.v1.Orders/GetOrder', path: '$.order.total.units' }));
  });

  it('a target nobody answers on aborts the run (exit 3, naming it); a filter that keeps no call is exit 2', async () => {
    const url = await refusingUrl();
    const down = await runCli(['replay', '--protocol', 'grpc', '--traffic', traffic, '--target', url], { timeoutMs: 60_000 });
    expect(down.code).toBe(3);
    expect(down.stdout + down.stderr).toContain(`target unreachable`);
    expect(down.stdout + down.stderr).toContain(url);
    const s = await server();
    const none = await replay(s, ['--include', 'POST /no.such.Service/*']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no inbound gRPC exchanges to replay');
    expect(s.calls).toBe(0);
  });
});
