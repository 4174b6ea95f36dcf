import { createServer, type Server } from 'node:http';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startCli, type Running } from '../helpers/cli.js';
import { skipOrFail } from '../helpers/services.js';
import { scratchDir } from '../helpers/formats.js';
import { javaPath, startWireMock, wireMockJar, type RunningWireMock } from '../helpers/wiremock-jar.js';

/** A PNG header and bytes that are not UTF-8: the body must come back byte for byte. */
const PNG = Buffer.concat([Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), Buffer.from([0, 0xff, 0xfe, 0x80, 1, 2, 3])]);

/** A small service with the shapes a dependency has: JSON, a JSON POST, bytes, a query, and a counter that answers differently each call. */
async function startService(): Promise<{ url: string; server: Server }> {
  let n = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://x');
      if (req.method === 'GET' && u.pathname === '/users/1') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 1, name: 'ann' }));
      } else if (req.method === 'POST' && u.pathname === '/orders') {
        const order = JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>;
        res.writeHead(201, { 'content-type': 'application/json', 'x-order': 'o-9' }).end(JSON.stringify({ ok: true, order }));
      } else if (req.method === 'GET' && u.pathname === '/logo.png') {
        res.writeHead(200, { 'content-type': 'image/png' }).end(PNG);
      } else if (req.method === 'GET' && u.pathname === '/search') {
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(`results for ${u.searchParams.get('q') ?? ''}, page ${u.searchParams.get('page') ?? ''}`);
      } else if (req.method === 'GET' && u.pathname === '/counter') {
        n++;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ n }));
      } else res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  return { url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`, server };
}

interface Call {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

interface Answer {
  status: number;
  body: Buffer;
  contentType: string | undefined;
  xOrder: string | undefined;
}

const CALLS: Call[] = [
  { method: 'GET', path: '/users/1' },
  { method: 'POST', path: '/orders', headers: { 'content-type': 'application/json' }, body: '{"item":"pen","qty":2}' },
  { method: 'GET', path: '/logo.png' },
  { method: 'GET', path: '/search?q=red+shoes&page=2' },
  { method: 'GET', path: '/counter' },
  { method: 'GET', path: '/counter' },
  { method: 'GET', path: '/counter' },
];

async function send(base: string, c: Call): Promise<Answer> {
  const r = await request(`${base}${c.path}`, { method: c.method as 'GET', headers: c.headers ?? {}, body: c.body ?? null });
  const body = Buffer.from(await r.body.arrayBuffer());
  const h = (name: string) => {
    const v = r.headers[name];
    return Array.isArray(v) ? v.join(', ') : v;
  };
  return { status: r.statusCode, body, contentType: h('content-type'), xOrder: h('x-order') };
}

describe('WireMock recorder output imported and served by doppel mock', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('answers like the recorded service: --proxy-all --record-mappings root dir, and a snapshot whose repeats are a scenario', { timeout: 180_000 }, async (ctx) => {
    const jar = wireMockJar();
    if (javaPath === undefined || jar === undefined) {
      const why = javaPath === undefined ? 'java not found: apt-get install -y openjdk-17-jre-headless' : 'node_modules/wiremock has no standalone jar: npm install';
      skipOrFail(ctx, why);
    }
    const s = await scratchDir();
    cleanups.push(s.cleanup);
    const svc = await startService();
    cleanups.push(() => new Promise((r) => svc.server.close(r)));

    // 1. record through the real WireMock, in its proxy-and-record mode
    const root = join(s.dir, 'wm');
    const wm: RunningWireMock = await startWireMock(javaPath, jar, ['--root-dir', root, '--proxy-all', svc.url, '--record-mappings', '--disable-banner']);
    cleanups.push(() => wm.stop());
    const truth: Answer[] = [];
    for (const c of CALLS) truth.push(await send(wm.url, c));
    expect(truth.map((a) => a.status)).toEqual([200, 201, 200, 200, 200, 200, 200]);
    expect(truth.slice(4).map((a) => a.body.toString())).toEqual(['{"n":1}', '{"n":2}', '{"n":3}']);
    expect(truth[2]?.body).toEqual(PNG);
    // The recorder also snapshots its journal; repeats with different answers become a scenario.
    const snap = await request(`${wm.url}/__admin/recordings/snapshot`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ repeatsAsScenarios: true, persist: false }),
    });
    expect(snap.statusCode).toBe(200);
    const snapshotFile = join(s.dir, 'snapshot.json');
    await writeFile(snapshotFile, Buffer.from(await snap.body.arrayBuffer()));
    await wm.stop();
    const bodies = await readdir(join(root, '__files'));
    expect(bodies.some((f) => f.endsWith('.png'))).toBe(true);

    // 2. import both through the CLI
    const legacyOut = join(s.dir, 'legacy');
    const a = await runCli(['import', 'wiremock', root, '--out', legacyOut]);
    expect(a.stderr).toContain('imported 5 exchanges, skipped 0');
    expect(a.code).toBe(0);
    const snapOut = join(s.dir, 'snap');
    const b = await runCli(['import', 'wiremock', snapshotFile, '--out', snapOut, '--service', 'snap']);
    expect(b.stderr).toContain('imported 7 exchanges, skipped 0');
    expect(b.code).toBe(0);

    // 3. serve both with doppel mock
    const mock: Running = startCli([
      'mock',
      '--traffic', `${legacyOut},${snapOut}`,
      '--http-dep', 'wiremock=127.0.0.1:0',
      '--http-dep', 'snap=127.0.0.1:0',
      '--admin', '127.0.0.1:0',
      '--latency', 'none',
    ]);
    cleanups.push(() => mock.stop());
    const at = async (service: string) => `http://${(await mock.waitFor('http mock listening', (l) => l.service === service)).address as string}`;
    const legacy = await at('wiremock');
    const scenario = await at('snap');

    const same = (got: Answer, want: Answer) => {
      expect(got.status).toBe(want.status);
      expect(got.body).toEqual(want.body);
      expect(got.contentType).toBe(want.contentType);
      expect(got.xOrder).toBe(want.xOrder);
    };
    // the snapshot's scenario answers the repeated calls in the order the service gave them
    for (const [i, c] of CALLS.entries()) same(await send(scenario, c), truth[i] as Answer);
    // past the last state WireMock keeps answering the last response, and so does doppel
    same(await send(scenario, { method: 'GET', path: '/counter' }), truth[6] as Answer);

    // --record-mappings keeps only the first answer to a repeated request (WireMock skips requests it has seen)
    for (const [i, c] of CALLS.entries()) same(await send(legacy, c), truth[Math.min(i, 4)] as Answer);
    expect(await mock.stop()).toBe(0);
  });
});
