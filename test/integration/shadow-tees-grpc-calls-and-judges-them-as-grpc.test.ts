/**
 * `doppel shadow --protocol grpc` with grpc-js primary and candidate: the
 * client gets the primary's answers (unary and server streaming), the same
 * calls reach the candidate, and a planted field change is reported at its
 * JSON path in the run view, the metrics and the report; a candidate that
 * holds every call never delays the primary's answers.
 */
import { writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startCli } from '../helpers/cli.js';
import { getOrder, GRPC_PROTO_DIR, listOrders, ordersClient, startOrdersServer } from '../helpers/grpc-peers.js';
import { tempDir } from '../helpers/http.js';
import { until } from '../helpers/until.js';

interface RunView {
  judged: number;
  dropped: Record<string, number>;
  diffs: Array<{ endpoint: string; result: string; diffs: Array<{ path: string; expected: unknown; actual: unknown }> }>;
}

async function runView(admin: string, runId: string): Promise<RunView> {
  return (await (await request(`http://${admin}/api/runs/${runId}`)).body.json()) as RunView;
}

describe('doppel shadow --protocol grpc', () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  async function configFile(): Promise<{ dir: string; config: string }> {
    const work = await tempDir('doppel-grpc-shadow-');
    cleanups.push(work.cleanup);
    const config = join(work.dir, 'doppel.yaml');
    await writeFile(config, `grpc:\n  protos: [${JSON.stringify(GRPC_PROTO_DIR)}]\n`);
    return { dir: work.dir, config };
  }

  it('relays the primary, copies unary and streaming calls to the candidate, and reports the planted field at its JSON path', async () => {
    const { dir, config } = await configFile();
    const report = join(dir, 'report');
    const primary = await startOrdersServer();
    const candidate = await startOrdersServer({ units: 43 });
    cleanups.push(() => primary.close(), () => candidate.close());
    const shadow = startCli(['shadow', '--config', config, '--protocol', 'grpc', '--listen', '127.0.0.1:0', '--primary', primary.url, '--candidate', candidate.url, '--report', report, '--admin', '127.0.0.1:0']);
    cleanups.push(() => shadow.stop());
    const line = await shadow.waitFor('shadow listening');
    const admin = (await shadow.waitFor('admin api listening')).address as string;
    const client = ordersClient(line.address as string);
    cleanups.push(() => client.close());
    const direct = ordersClient(primary.target);
    cleanups.push(() => direct.close());

    const unary = await getOrder(client, 'o-1');
    expect(unary.reply).toEqual((await getOrder(direct, 'o-1')).reply);
    expect(unary.reply.order?.total?.units).toBe('42');
    expect(unary.metadata.get('x-served-by')).toEqual(['orders-grpc']);
    expect(await listOrders(client, 2)).toEqual(await listOrders(direct, 2));

    const runId = line.runId as string;
    await until('both copies judged', async () => (await runView(admin, runId)).judged === 2);
    expect(candidate.calls).toBe(2);
    const view = await runView(admin, runId);
    const paths = view.diffs.flatMap((d) => d.diffs.map((x) => `${d.endpoint} ${x.path} ${String(x.expected)} -> ${String(x.actual)}`)).sort();
    expect(paths).toEqual([
      '/shop.v1.Orders/GetOrder $.order.total.units 42 -> 43',
      '/shop.v1.Orders/ListOrders $[0].total.units 42 -> 43',
      '/shop.v1.Orders/ListOrders $[1].total.units 42 -> 43',
    ]);

    const metrics = await (await request(`http://${admin}/metrics`)).body.text();
    expect(metrics).toContain(`doppel_compare_total{run_id="${runId}",mode="shadow",endpoint="/shop.v1.Orders/GetOrder",result="mismatch"} 1`);
    expect(metrics).toContain(`doppel_compare_total{run_id="${runId}",mode="shadow",endpoint="/shop.v1.Orders/ListOrders",result="mismatch"} 1`);

    expect(await shadow.stop()).toBe(0);
    const diffs = (await readFile(join(report, 'diffs.ndjson'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { endpoint: string; diffs: Array<{ path: string }> });
    expect(diffs.flatMap((d) => d.diffs.map((x) => `${d.endpoint} ${x.path}`)).sort()).toEqual(paths.map((p) => p.split(' ').slice(0, 2).join(' ')));
    const summary = JSON.parse(await readFile(join(report, 'summary.json'), 'utf8'));
    expect(summary.counts.requests).toBe(2);
    expect(summary.counts.mismatches).toBe(2);
  });

  it('answers every primary call while the candidate holds all its copies', async () => {
    const { config } = await configFile();
    const primary = await startOrdersServer();
    const candidate = await startOrdersServer({ hold: true });
    cleanups.push(() => primary.close(), () => candidate.close());
    const shadow = startCli(['shadow', '--config', config, '--protocol', 'grpc', '--listen', '127.0.0.1:0', '--primary', primary.url, '--candidate', candidate.url, '--admin', '127.0.0.1:0']);
    cleanups.push(() => shadow.stop());
    const line = await shadow.waitFor('shadow listening');
    const admin = (await shadow.waitFor('admin api listening')).address as string;
    const client = ordersClient(line.address as string);
    cleanups.push(() => client.close());

    // Every answer comes while the candidate holds the copies it got: none of them waits on it.
    const unary = await Promise.all(Array.from({ length: 10 }, (_, i) => getOrder(client, `o-${i}`)));
    expect(unary.map((u) => u.reply.order?.id)).toEqual(Array.from({ length: 10 }, (_, i) => `o-${i}`));
    expect(await listOrders(client, 3)).toHaveLength(3);
    await until('the candidate holds copies', () => candidate.held > 0);
    expect(primary.calls).toBe(11);
    const runId = line.runId as string;
    expect((await runView(admin, runId)).judged).toBe(0);

    candidate.release();
    await until('held copies judged', async () => (await runView(admin, runId)).judged === 11);
    expect((await runView(admin, runId)).diffs).toEqual([]);
  });

  it('keeps copies within max_in_flight and queue_items, counts every one it drops, and answers the primary with the candidate dead', async () => {
    const { dir } = await configFile();
    const config = join(dir, 'bounded.yaml');
    await writeFile(config, `grpc:\n  protos: [${JSON.stringify(GRPC_PROTO_DIR)}]\nshadow:\n  max_in_flight: 2\n  queue_items: 2\n  queue_wait: 30s\n`);
    const primary = await startOrdersServer();
    const candidate = await startOrdersServer({ hold: true });
    cleanups.push(() => primary.close(), () => candidate.close());
    const shadow = startCli(['shadow', '--config', config, '--protocol', 'grpc', '--listen', '127.0.0.1:0', '--primary', primary.url, '--candidate', candidate.url, '--admin', '127.0.0.1:0']);
    cleanups.push(() => shadow.stop());
    const line = await shadow.waitFor('shadow listening');
    const admin = (await shadow.waitFor('admin api listening')).address as string;
    const runId = line.runId as string;
    const client = ordersClient(line.address as string);
    cleanups.push(() => client.close());

    // One after another: 2 copies go out and are held, 2 wait, the other 6 find the queue full.
    for (let i = 0; i < 10; i++) expect((await getOrder(client, `o-${i}`)).reply.order?.id).toBe(`o-${i}`);
    await until('two copies held', () => candidate.held === 2);
    const held = await runView(admin, runId);
    expect(held.dropped.queue_full).toBe(6);
    expect(held.judged).toBe(0);
    candidate.release();
    await until('the queued copies judged too', async () => (await runView(admin, runId)).judged === 4);
    expect(candidate.calls).toBe(4);

    // The candidate gone: the primary still answers, and each copy counts as candidate_error.
    await candidate.close();
    for (let i = 0; i < 3; i++) expect((await getOrder(client, `p-${i}`)).reply.order?.id).toBe(`p-${i}`);
    await until('the failed copies counted', async () => (await runView(admin, runId)).dropped.candidate_error === 3);
    const view = await runView(admin, runId);
    expect(view.judged + Object.values(view.dropped).reduce((a, b) => a + b, 0)).toBe(13);
    // A candidate that died mid-run does not hold the stop.
    expect(await shadow.stop()).toBe(0);
  });

  it('learns from a secondary the message fields the primary disagrees with itself on, and still reports a real regression', async () => {
    const { dir } = await configFile();
    const config = join(dir, 'noise.yaml');
    await writeFile(config, `grpc:\n  protos: [${JSON.stringify(GRPC_PROTO_DIR)}]\ncompare:\n  learn_noise: 5\n`);
    const primary = await startOrdersServer({ noisy: true });
    const secondary = await startOrdersServer({ noisy: true });
    // The candidate gets order o-9's total wrong.
    const candidate = await startOrdersServer({ noisy: true, units: (id) => (id === 'o-9' ? 43 : 42) });
    cleanups.push(() => primary.close(), () => secondary.close(), () => candidate.close());
    const shadow = startCli(['shadow', '--config', config, '--protocol', 'grpc', '--listen', '127.0.0.1:0', '--primary', primary.url, '--candidate', candidate.url, '--secondary', secondary.url, '--admin', '127.0.0.1:0']);
    cleanups.push(() => shadow.stop());
    const line = await shadow.waitFor('shadow listening');
    const admin = (await shadow.waitFor('admin api listening')).address as string;
    const runId = line.runId as string;
    const client = ordersClient(line.address as string);
    cleanups.push(() => client.close());

    // One at a time, so the secondary's samples come before the judgments that need them.
    for (let i = 1; i <= 6; i++) {
      await getOrder(client, `o-${i}`);
      await until(`copy ${i} judged`, async () => (await runView(admin, runId)).judged === i);
    }
    expect(secondary.calls).toBe(5);
    await getOrder(client, 'o-9');
    await until('the regression judged', async () => (await runView(admin, runId)).judged === 7);

    const view = (await runView(admin, runId)) as RunView & { noise: Array<{ path: string }> };
    expect(view.noise.map((n) => n.path)).toEqual(['$.order.items[*]']);
    expect(view.diffs.map((d) => [d.endpoint, d.diffs.map((x) => x.path)])).toEqual([['/shop.v1.Orders/GetOrder', ['$.order.total.units']]]);
    const metrics = await (await request(`http://${admin}/metrics`)).body.text();
    expect(metrics).toContain(`doppel_compare_total{run_id="${runId}",mode="shadow",endpoint="/shop.v1.Orders/GetOrder",result="noise"} 6`);
    expect(metrics).toContain(`doppel_compare_total{run_id="${runId}",mode="shadow",endpoint="/shop.v1.Orders/GetOrder",result="mismatch"} 1`);
  });

  it('refuses HTTP-only shadow keys with protocol grpc, exit 2 naming them', async () => {
    const r = await runCli(['shadow', '--protocol', 'grpc', '--listen', '127.0.0.1:0', '--primary', 'http://127.0.0.1:1', '--candidate', 'http://127.0.0.1:2', '--candidate-http-dep', 'pay=127.0.0.1:0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('shadow.candidate_http_deps: not available with shadow.protocol grpc');
  });
});
