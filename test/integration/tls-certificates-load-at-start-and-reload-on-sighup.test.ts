/**
 * `doppel record` with TLS through the CLI: bad certificate input is exit 2
 * naming the file, a generated certificate's logged fingerprint is the one
 * clients see, the admin API serves TLS from admin.tls, and SIGHUP swaps the
 * certificate while an open keep-alive connection carries on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { Agent, request as httpsRequest } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { runCli, startCli, type Running } from '../helpers/cli.js';
import { startUpstream, tempDir, type Upstream } from '../helpers/http.js';
import { makeCa, makeLeaf, peerCertificate, writePem, type PemFiles } from '../helpers/tls-fixtures.js';

interface Answer {
  status: number;
  body: string;
  fingerprint: string;
  reused: boolean;
}

function get(url: string, opts: { ca?: string; agent?: Agent; insecure?: boolean }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca: opts.ca, agent: opts.agent ?? false, rejectUnauthorized: opts.insecure !== true }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), fingerprint, reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end();
  });
}

const portOf = (address: unknown) => Number(String(address).split(':').pop());

describe('record listener certificates through the CLI', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let upstream: Upstream;
  let ca: string;
  let a: PemFiles;
  let b: PemFiles;
  const running: Running[] = [];

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('doppel-tls-cli-'));
    const caKeys = await makeCa('doppel cli test ca');
    ca = caKeys.cert;
    a = await writePem(dir, 'a', await makeLeaf('doppel a', caKeys));
    b = await writePem(dir, 'b', await makeLeaf('doppel b', caKeys));
    upstream = await startUpstream((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`upstream saw ${req.url}`);
    });
  });

  afterAll(async () => {
    for (const r of running) await r.stop();
    await upstream.close();
    await cleanup();
  });

  const record = (extra: string[]) =>
    runCli(['record', '--out', join(dir, 'bad-traffic'), '--upstream', upstream.url, '--listen', '127.0.0.1:0', '--log-format', 'json', ...extra], { timeoutMs: 30_000 });

  it('a certificate file that cannot be read is exit 2 naming the file', async () => {
    const missing = join(dir, 'no-such-cert.pem');
    const r = await record(['--tls-cert', missing, '--tls-key', a.key]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`record.tls: cannot read certificate file ${missing}`);
    expect(r.stderr).not.toContain('internal error');
  });

  it('a key that does not belong to the certificate is exit 2 naming both files', async () => {
    const r = await record(['--tls-cert', a.cert, '--tls-key', b.key]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`record.tls: ${a.cert} / ${b.key}: the key does not belong to the certificate`);
  });

  it('a certificate without its key, or a file that is not PEM, is exit 2', async () => {
    const half = await record(['--tls-cert', a.cert]);
    expect(half.code).toBe(2);
    expect(half.stderr).toContain('record.tls: give both a cert and a key file');
    const garbage = join(dir, 'garbage.pem');
    await writeFile(garbage, 'not a certificate\n');
    const notPem = await record(['--tls-cert', garbage, '--tls-key', a.key]);
    expect(notPem.code).toBe(2);
    expect(notPem.stderr).toContain(`record.tls: ${garbage} / ${a.key}:`);
  });

  it('generate: true serves a self-signed certificate whose logged fingerprint is the one clients see; admin.tls serves the admin API', async () => {
    const config = join(dir, 'generate.yaml');
    await writeFile(config, ['record:', '  tls: { generate: true }', 'admin:', `  tls: { cert: ${a.cert}, key: ${a.key} }`, ''].join('\n'));
    const r = startCli(['--config', config, 'record', '--out', join(dir, 'gen-traffic'), '--upstream', upstream.url, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--log-format', 'json']);
    running.push(r);
    const generated = await r.waitFor('tls: serving a generated self-signed certificate; trust it by this fingerprint');
    const proxy = await r.waitFor('record proxy listening');
    const port = portOf(proxy.address);
    expect(generated.listener).toBe('record.tls');
    expect(generated.sha256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect((await peerCertificate(port)).fingerprint256).toBe(generated.sha256);
    // Not signed by anyone a client trusts: verification fails, and the pinned fingerprint is how to trust it.
    await expect(get(`https://127.0.0.1:${port}/v`, { ca })).rejects.toThrow(/self.signed/i);
    const pinned = await get(`https://127.0.0.1:${port}/pinned`, { insecure: true });
    expect(pinned).toMatchObject({ status: 200, body: 'upstream saw /pinned', fingerprint: generated.sha256 });

    const admin = await r.waitFor('admin api listening');
    expect(admin.tls).toBe(true);
    const health = await get(`https://127.0.0.1:${portOf(admin.address)}/healthz`, { ca });
    expect(health.status).toBe(200);
    expect(health.fingerprint).toBe(a.fingerprint);
  });

  it('SIGHUP re-reads the certificate: an open keep-alive connection carries on, a new connection gets the new certificate', async () => {
    const live = { cert: join(dir, 'live.pem'), key: join(dir, 'live-key.pem') };
    await copyFile(a.cert, live.cert);
    await copyFile(a.key, live.key);
    const config = join(dir, 'keepalive.yaml');
    await writeFile(config, 'record:\n  timeouts: { keep_alive: 60s }\n');
    const r = startCli([
      '--config', config, 'record', '--out', join(dir, 'hup-traffic'), '--upstream', upstream.url, '--listen', '127.0.0.1:0',
      '--tls-cert', live.cert, '--tls-key', live.key, '--admin', '127.0.0.1:0', '--log-format', 'json',
    ]);
    running.push(r);
    const url = `https://127.0.0.1:${portOf((await r.waitFor('record proxy listening')).address)}`;
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca });
    try {
      const first = await get(`${url}/before`, { agent });
      expect(first).toMatchObject({ status: 200, body: 'upstream saw /before', fingerprint: a.fingerprint, reused: false });

      // A broken pair on disk is refused: the old certificate stays and the process keeps serving.
      await copyFile(b.cert, live.cert);
      r.child.kill('SIGHUP');
      const failed = await r.waitFor('tls: reload failed; keeping the current certificate');
      expect(String(failed.err)).toContain('the key does not belong to the certificate');
      expect((await peerCertificate(Number(new URL(url).port))).fingerprint256).toBe(a.fingerprint);

      await copyFile(b.key, live.key);
      r.child.kill('SIGHUP');
      const reloaded = await r.waitFor('tls: certificate reloaded');
      expect(reloaded.sha256).toBe(b.fingerprint);

      const same = await get(`${url}/after`, { agent });
      expect(same).toMatchObject({ status: 200, body: 'upstream saw /after', reused: true, fingerprint: a.fingerprint });
      const fresh = await get(`${url}/fresh`, { ca });
      expect(fresh).toMatchObject({ status: 200, body: 'upstream saw /fresh', fingerprint: b.fingerprint });
      expect(r.child.exitCode).toBeNull();
    } finally {
      agent.destroy();
    }
    expect(await r.stop()).toBe(0);
    const recorded = await readFile(join(dir, 'hup-traffic', 'manifest.json'), 'utf8').catch(() => '');
    expect(recorded).not.toBe('');
  });
});
