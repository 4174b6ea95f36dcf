import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { getOrder, GRPC_PROTO_DIR, grpc, listOrders, recordInboundOrdersCalls, startOrdersServer, type OrdersServer } from '../helpers/grpc-peers.js';
import { optionalTool } from '../helpers/services.js';
import { tempDir } from '../helpers/http.js';

const run = promisify(execFile);

describe('doppel export grpcurl | k6-grpc', () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  let dir: string;
  let traffic: string;
  let config: string;
  let server: OrdersServer;

  beforeAll(async () => {
    const t = await tempDir('doppel-grpc-export-');
    cleanups.push(t.cleanup);
    dir = t.dir;
    traffic = join(dir, 'traffic');
    config = join(dir, 'doppel.yaml');
    await writeFile(config, `grpc:\n  protos: [${JSON.stringify(GRPC_PROTO_DIR)}]\n`);
    server = await startOrdersServer();
    cleanups.push(() => server.close());
    await recordInboundOrdersCalls(server.url, traffic, async (client) => {
      await getOrder(client, "o-'1");
      await listOrders(client, 2);
      await getOrder(client, 'o-2', undefined, 'Reject').catch((e: grpc.ServiceError) => e);
    });
  });
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('writes one grpcurl line per call with its JSON message, a valid sh script', async () => {
    const out = join(dir, 'calls.sh');
    const r = await runCli(['export', 'grpcurl', '--config', config, '--traffic', traffic, '--out', out]);
    expect(r.code).toBe(0);
    const text = await readFile(out, 'utf8');
    const lines = text.split('\n').filter((l) => l.startsWith('grpcurl '));
    expect(lines).toHaveLength(3);
    expect(lines[0]).toContain(`-d '{"id":"o-'\\''1"}' "$GRPC_TARGET" 'shop.v1.Orders/GetOrder'`);
    expect(lines[1]).toContain(`-d '{"limit":2}' "$GRPC_TARGET" 'shop.v1.Orders/ListOrders'`);
    expect(lines[2]).toMatch(/'shop\.v1\.Orders\/Reject' \|\| true$/);
    expect(lines[0]).toContain(`grpcurl $GRPCURL_TLS -import-path '${GRPC_PROTO_DIR}' -proto 'shop/v1/money.proto' -proto 'shop/v1/orders.proto' -d`);
    await run('sh', ['-n', out]);
  });

  it('skips calls it cannot turn into JSON without descriptors, saying why', async () => {
    const out = join(dir, 'no-descriptors.sh');
    const r = await runCli(['export', 'grpcurl', '--traffic', traffic, '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('grpcurl sends JSON and needs descriptors: no descriptors');
  });

  it('runs the exported lines with grpcurl against the live server', async (ctx) => {
    const grpcurl = optionalTool(ctx, 'grpcurl', 'it is a Go binary packaged by neither Debian nor npm, so CI cannot install it; the lines are checked by content and sh -n above');
    const out = join(dir, 'run.sh');
    expect((await runCli(['export', 'grpcurl', '--config', config, '--traffic', traffic, '--out', out])).code).toBe(0);
    const before = server.calls;
    const res = await run('sh', [out], { env: { ...process.env, PATH: `${join(grpcurl, '..')}:${process.env.PATH ?? ''}`, GRPC_TARGET: server.target } });
    expect(res.stdout).toContain('"units": "42"');
    expect(server.calls).toBe(before + 3);
  });

  it('writes a k6 script calling each method through k6/net/grpc', async () => {
    const out = join(dir, 'grpc.js');
    const r = await runCli(['export', 'k6-grpc', '--config', config, '--traffic', traffic, '--out', out]);
    expect(r.code).toBe(0);
    const script = await readFile(out, 'utf8');
    expect(script).toContain("import grpc from 'k6/net/grpc';");
    expect(script).toContain(`client.load(["${GRPC_PROTO_DIR}"], "shop/v1/money.proto", "shop/v1/orders.proto");`);
    expect(script).toContain(`res = client.invoke("shop.v1.Orders/GetOrder", {"id":"o-'1"}`);
    expect(script).toContain('(r) => r && r.status === 0');
    expect(script).toContain('new grpc.Stream(client, "shop.v1.Orders/ListOrders"');
    expect(script).toContain('stream.write({"limit":2});');
    expect(script).toContain('(r) => r && r.status === 9');
    // The script is JavaScript k6 can parse (k6 modules are ES modules).
    const file = join(dir, 'grpc.mjs');
    await writeFile(file, script);
    await run(process.execPath, ['--check', file]);
  });
});
