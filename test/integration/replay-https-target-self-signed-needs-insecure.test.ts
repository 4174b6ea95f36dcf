/**
 * An https:// target with a self-signed certificate (made at test time):
 * without --insecure every request fails certificate verification, the
 * errors are counted and the run aborts (exit 3); with --insecure it passes,
 * and so it does with the certificate trusted through replay.target_tls.ca.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { runCli } from '../helpers/cli.js';
import { recordTraffic, tempDir, type PlannedRequest } from '../helpers/replay-fixtures.js';

function answer(req: IncomingMessage, res: ServerResponse): void {
  const id = Number(/^\/orders\/(\d+)$/.exec(req.url ?? '')?.[1]);
  res.writeHead(Number.isFinite(id) ? 200 : 404, { 'content-type': 'application/json' });
  res.end(JSON.stringify(Number.isFinite(id) ? { id, total: id * 10 } : { error: 'no route' }));
}

async function listen(server: Server, scheme: 'http' | 'https'): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `${scheme}://127.0.0.1:${(server.address() as { port: number }).port}`;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}

describe('replay against an https target with a self-signed certificate', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let traffic: string;
  let https: Server;
  let httpsUrl: string;
  let handshakes = 0;
  let certFile: string;
  beforeAll(async () => {
    dir = await tempDir('doppel-replay-https-');
    traffic = join(dir.path, 'traffic');
    // Recorded from the same service over plain HTTP (the recording side is not under test).
    const plain = createHttpServer(answer);
    const plainUrl = await listen(plain, 'http');
    const plan: PlannedRequest[] = [];
    for (let i = 1; i <= 12; i++) plan.push({ method: 'GET', url: `/orders/${i}`, session: `s${i}` });
    await recordTraffic({ url: plainUrl, seen: [], close: () => close(plain) }, traffic, plan);
    await close(plain);

    const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
      keySize: 2048,
      algorithm: 'sha256',
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
    });
    certFile = join(dir.path, 'target.pem');
    writeFileSync(certFile, pems.cert);
    https = createHttpsServer({ cert: pems.cert, key: pems.private }, answer);
    https.on('secureConnection', () => handshakes++);
    httpsUrl = await listen(https, 'https');
  });
  afterAll(async () => {
    await close(https);
    await dir.cleanup();
  });

  const replay = (extra: string[], report: string) =>
    runCli(['replay', '--traffic', traffic, '--target', httpsUrl, '--report', report, '--time-scale', '1000', '--log-level', 'warn', ...extra], {
      env: { CI: '', NODE_TLS_REJECT_UNAUTHORIZED: '' },
      // under the integration tests' 60 s, so a hung replay fails with its output
      timeoutMs: 45_000,
    });

  it('without --insecure counts certificate errors and aborts with exit 3', async () => {
    const report = join(dir.path, 'r-strict');
    const before = handshakes;
    const r = await replay([], report);
    expect(r.stderr).not.toContain('internal error');
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/ABORTED \(target unreachable/);
    expect(r.stdout).toMatch(/SELF_SIGNED|self.signed/i);
    expect(handshakes).toBe(before);
    const summary = JSON.parse(readFileSync(join(report, 'summary.json'), 'utf8'));
    expect(summary.verdict).toBe('aborted');
    expect(summary.counts.errors).toBeGreaterThan(0);
    expect(summary.counts.errors).toBe(summary.counts.requests);
  });

  it('with --insecure replays every request over TLS and passes', async () => {
    const report = join(dir.path, 'r-insecure');
    const before = handshakes;
    const r = await replay(['--insecure'], report);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('sent 12  passed 12  failed 0  errors 0');
    expect(handshakes).toBeGreaterThan(before);
    const summary = JSON.parse(readFileSync(join(report, 'summary.json'), 'utf8'));
    expect(summary.verdict).toBe('pass');
  });

  it('with the certificate as replay.target_tls.ca verifies it and passes without --insecure', async () => {
    const report = join(dir.path, 'r-ca');
    const config = join(dir.path, 'ca.yaml');
    writeFileSync(config, `replay:\n  target_tls: { ca: ${certFile} }\n`);
    const before = handshakes;
    const r = await replay(['--config', config], report);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('sent 12  passed 12  failed 0  errors 0');
    expect(handshakes).toBeGreaterThan(before);
  });

  it('a CA file that cannot be read is exit 2 naming it', async () => {
    const config = join(dir.path, 'missing-ca.yaml');
    const missing = join(dir.path, 'no-such-ca.pem');
    writeFileSync(config, `replay:\n  target_tls: { ca: ${missing} }\n`);
    const r = await replay(['--config', config], join(dir.path, 'r-missing'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`replay.target_tls: cannot read CA file ${missing}`);
  });
});
