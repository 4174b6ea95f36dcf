/**
 * `doppel mock` and `doppel shadow` with --tls-cert/--tls-key: the HTTP mock
 * port and the shadow listener serve TLS to clients trusting only the test
 * CA, and shadow reaches an https primary and candidate through
 * shadow.primary_tls / shadow.candidate_tls. --tls-cert with nothing to serve
 * it on is exit 2.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer, request as httpsRequest, type Server } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { runCli, startCli, type Running } from '../helpers/cli.js';
import { tempDir } from '../helpers/http.js';
import { makeCa, makeLeaf, writePem, type Pem, type PemFiles } from '../helpers/tls-fixtures.js';

function get(url: string, ca: string): Promise<{ status: number; body: string; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, agent: false }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), fingerprint }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function startHttps(pem: Pem, name: string, seen: string[]): Promise<{ server: Server; url: string }> {
  const server = createHttpsServer({ cert: pem.cert, key: pem.key }, (req, res) => {
    seen.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ from: name, url: req.url }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `https://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const portOf = (address: unknown) => Number(String(address).split(':').pop());

describe('mock and shadow listeners over TLS', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let ca: string;
  let leaf: PemFiles;
  const running: Running[] = [];
  const servers: Server[] = [];

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('doppel-tls-listeners-'));
    const caKeys = await makeCa('doppel listeners test ca');
    ca = caKeys.cert;
    await writeFile(join(dir, 'ca.pem'), ca);
    leaf = await writePem(dir, 'listener', await makeLeaf('doppel listener', caKeys));
  });

  afterAll(async () => {
    for (const r of running) await r.stop();
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
    await cleanup();
  });

  it('an HTTP mock port serves its stubs over TLS', async () => {
    const stubs = join(dir, 'stubs.json');
    await writeFile(stubs, JSON.stringify({ mappings: [{ request: { method: 'GET', urlPath: '/ping' }, response: { status: 200, body: 'pong' } }] }));
    const r = startCli(['mock', '--http-dep', 'payments=127.0.0.1:0', '--stubs', stubs, '--tls-cert', leaf.cert, '--tls-key', leaf.key, '--admin', '127.0.0.1:0', '--log-format', 'json']);
    running.push(r);
    const line = await r.waitFor('http mock listening');
    expect(line.tls).toBe(true);
    const answer = await get(`https://127.0.0.1:${portOf(line.address)}/ping`, ca);
    expect(answer).toEqual({ status: 200, body: 'pong', fingerprint: leaf.fingerprint });
  });

  it('--tls-cert on mock without an --http-dep to serve it is exit 2', async () => {
    const stubs = join(dir, 'stubs.json');
    const r = await runCli(['mock', '--pg-dep', 'db=127.0.0.1:0', '--traffic', dir, '--stubs', stubs, '--tls-cert', leaf.cert, '--tls-key', leaf.key]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--tls-cert/--tls-key serve the --http-dep mocks over TLS');
  });

  it('the shadow listener serves TLS and reaches an https primary and candidate trusting the CA', async () => {
    const caKeys = await makeCa('doppel peers ca');
    await writeFile(join(dir, 'peers-ca.pem'), caKeys.cert);
    const primarySeen: string[] = [];
    const candidateSeen: string[] = [];
    const primary = await startHttps(await makeLeaf('primary', caKeys), 'primary', primarySeen);
    const candidate = await startHttps(await makeLeaf('candidate', caKeys), 'candidate', candidateSeen);
    servers.push(primary.server, candidate.server);
    const config = join(dir, 'shadow.yaml');
    const peersCa = join(dir, 'peers-ca.pem');
    await writeFile(config, ['shadow:', `  primary_tls: { ca: ${peersCa} }`, `  candidate_tls: { ca: ${peersCa} }`, ''].join('\n'));
    const r = startCli([
      '--config', config, 'shadow', '--listen', '127.0.0.1:0', '--primary', primary.url, '--candidate', candidate.url,
      '--tls-cert', leaf.cert, '--tls-key', leaf.key, '--admin', '127.0.0.1:0', '--log-format', 'json',
    ]);
    running.push(r);
    const line = await r.waitFor('shadow listening');
    const answer = await get(`https://127.0.0.1:${portOf(line.address)}/orders/7`, ca);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ from: 'primary', url: '/orders/7' });
    expect(answer.fingerprint).toBe(leaf.fingerprint);
    const deadline = Date.now() + 10_000;
    while (candidateSeen.length === 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
    expect(candidateSeen).toEqual(['/orders/7']);
    expect(primarySeen).toEqual(['/orders/7']);
  });
});
