import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import 'protobufjs/ext/descriptor.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { getOrder, GRPC_PROTO_DIR, grpc, listOrders, ORDERS_PROTO, recordInboundOrdersCalls, startOrdersServer, type OrdersServer } from '../helpers/grpc-peers.js';
import { tempDir } from '../helpers/http.js';

interface DiffLine {
  endpoint: string;
  diffs: Array<{ path: string; kind: string; expected?: unknown; actual?: unknown }>;
  flags: string[];
}

async function diffLines(dir: string): Promise<DiffLine[]> {
  const text = await readFile(join(dir, 'diffs.ndjson'), 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as DiffLine);
}

describe('doppel replay --protocol grpc', () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  let work: { dir: string };
  let traffic: string;
  let protoset: string;
  let gates: string;

  beforeAll(async () => {
    const t = await tempDir('doppel-grpc-replay-');
    cleanups.push(t.cleanup);
    work = t;
    traffic = join(work.dir, 'traffic');
    // A protoset as protoc --descriptor_set_out --include_imports writes it.
    const root = new protobuf.Root();
    root.resolvePath = (_o, target) => join(GRPC_PROTO_DIR, target);
    root.loadSync(ORDERS_PROTO);
    protoset = join(work.dir, 'orders.protoset');
    const set = root.toDescriptor('proto3');
    await writeFile(protoset, (set.constructor as unknown as { encode(m: unknown): { finish(): Uint8Array } }).encode(set).finish());
    gates = join(work.dir, 'gates.yaml');
    await writeFile(gates, 'quality_gates:\n  body_match_rate: ">= 1"\n  status_pass_rate: ">= 1"\n');

    const v1 = await startOrdersServer({ units: 42 });
    cleanups.push(() => v1.close());
    await recordInboundOrdersCalls(v1.url, traffic, async (client) => {
      await getOrder(client, 'o-1');
      await listOrders(client, 2);
      await getOrder(client, 'o-2', undefined, 'Reject').catch((e: grpc.ServiceError) => e);
    });
  });
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  const replay = async (server: OrdersServer, report: string, extra: string[]) =>
    runCli(['replay', '--protocol', 'grpc', '--traffic', traffic, '--target', server.url, '--gates', gates, '--report', report, ...extra], { timeoutMs: 60_000 });

  it('passes a candidate that answers as recorded', async () => {
    const same = await startOrdersServer({ units: 42 });
    cleanups.push(() => same.close());
    const report = join(work.dir, 'report-same');
    const r = await replay(same, report, ['--config', await descriptorsConfig('same', `descriptors: [${JSON.stringify(protoset)}]`)]);
    expect(r.stderr).not.toContain('"level":50');
    expect(r.code).toBe(0);
    expect(same.calls).toBe(3);
    expect(await diffLines(report)).toEqual([]);
  });

  it('reports a planted field change at its JSON path with descriptors from a protoset, and from server reflection', async () => {
    const planted = await startOrdersServer({ units: 43, reflection: true });
    cleanups.push(() => planted.close());
    for (const [name, grpcConfig] of [
      ['protoset', `descriptors: [${JSON.stringify(protoset)}]`],
      ['reflection', 'reflection: true'],
    ] as const) {
      const report = join(work.dir, `report-${name}`);
      const r = await replay(planted, report, ['--config', await descriptorsConfig(name, grpcConfig)]);
      expect(r.code).toBe(1);
      const lines = await diffLines(report);
      const unary = lines.find((l) => l.endpoint === '/shop.v1.Orders/GetOrder');
      expect(unary?.diffs).toContainEqual(expect.objectContaining({ path: '$.order.total.units', kind: 'changed', expected: '42', actual: '43' }));
      const stream = lines.find((l) => l.endpoint === '/shop.v1.Orders/ListOrders');
      expect(stream?.diffs.map((d) => d.path)).toEqual(['$[0].total.units', '$[1].total.units']);
      expect(lines.find((l) => l.endpoint === '/shop.v1.Orders/Reject')).toBeUndefined();
    }
  });

  it('without descriptors compares messages as bytes and says why', async () => {
    const planted = await startOrdersServer({ units: 43 });
    cleanups.push(() => planted.close());
    const report = join(work.dir, 'report-bytes');
    const r = await replay(planted, report, []);
    expect(r.code).toBe(1);
    const unary = (await diffLines(report)).find((l) => l.endpoint === '/shop.v1.Orders/GetOrder');
    expect(unary?.diffs[0]?.kind).toBe('body-bytes');
    expect(unary?.flags.join(' ')).toContain('grpc-messages-as-bytes: no descriptors');
  });

  async function descriptorsConfig(name: string, body: string): Promise<string> {
    const file = join(work.dir, `${name}.yaml`);
    await writeFile(file, `grpc:\n  ${body}\n`);
    return file;
  }
});
