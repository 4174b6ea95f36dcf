/**
 * core/tls.ts: every bad listener or target TLS setting is a usage error
 * (exit 2) naming the key and the file, and a generated certificate's
 * fingerprint is the certificate's own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { generate } from 'selfsigned';
import { ExitCode, isDoppelError } from '../../../src/core/errors.js';
import { loadServerTls, loadTargetTls, SERVED_ALPN } from '../../../src/core/tls.js';

const log = pino({ level: 'silent' });

async function usageMessage(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    if (typeof p === 'function') p();
    else await p;
  } catch (err) {
    if (!isDoppelError(err)) throw err;
    expect(err.exitCode).toBe(ExitCode.usage);
    return err.message;
  }
  throw new Error('expected a usage error');
}

describe('TLS material is checked at start', () => {
  let dir: string;
  let cert: string;
  let key: string;
  let otherKey: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'doppel-tls-unit-'));
    const one = await generate([{ name: 'commonName', value: 'one' }], { keySize: 2048, algorithm: 'sha256' });
    const two = await generate([{ name: 'commonName', value: 'two' }], { keySize: 2048, algorithm: 'sha256' });
    cert = join(dir, 'one.pem');
    key = join(dir, 'one-key.pem');
    otherKey = join(dir, 'two-key.pem');
    await writeFile(cert, one.cert);
    await writeFile(key, one.private);
    await writeFile(otherKey, two.private);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('a listener without tls has none; an empty tls, both files and generate, or half a pair are refused', async () => {
    expect(await loadServerTls(undefined, { label: 'record.tls', log })).toBeUndefined();
    expect(await usageMessage(loadServerTls({}, { label: 'record.tls', log }))).toMatch(/^record\.tls: give cert and key files .*or generate: true$/);
    expect(await usageMessage(loadServerTls({ cert, key, generate: true }, { label: 'admin.tls', log }))).toContain('admin.tls: give cert and key files, or generate: true, not both');
    expect(await usageMessage(loadServerTls({ key }, { label: 'shadow.tls', log }))).toContain('shadow.tls: give both a cert and a key file');
  });

  it('a missing file and a key of another certificate name the files', async () => {
    const missing = join(dir, 'missing.pem');
    expect(await usageMessage(loadServerTls({ cert: missing, key }, { label: 'record.tls', log }))).toContain(`record.tls: cannot read certificate file ${missing}`);
    expect(await usageMessage(loadServerTls({ cert, key: otherKey }, { label: 'record.tls', log }))).toBe(
      `record.tls: ${cert} / ${otherKey}: the key does not belong to the certificate`,
    );
  });

  it('relative paths resolve against the given directory; the fingerprint and ALPN are the served ones', async () => {
    const tls = await loadServerTls({ cert: 'one.pem', key: 'one-key.pem' }, { label: 'record.tls', log, cwd: dir });
    expect(tls?.isGenerated).toBe(false);
    const options = tls?.serverOptions();
    expect(tls?.fingerprint).toBe(new X509Certificate(options?.cert as Buffer).fingerprint256);
    expect(options?.ALPNProtocols).toEqual(['h2', 'http/1.1']);
    expect(SERVED_ALPN).toEqual(['h2', 'http/1.1']);
    // a listener that serves HTTP/1.1 only never offers h2
    expect(tls?.serverOptions(false).ALPNProtocols).toEqual(['http/1.1']);
  });

  it('generate: true makes a certificate for localhost and 127.0.0.1 whose fingerprint is reported', async () => {
    const tls = await loadServerTls({ generate: true }, { label: 'admin.tls', log });
    const x509 = new X509Certificate(tls?.serverOptions().cert as string);
    expect(tls?.isGenerated).toBe(true);
    expect(tls?.fingerprint).toBe(x509.fingerprint256);
    expect(x509.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(x509.checkHost('localhost')).toBe('localhost');
  });

  it('target tls: unreadable CA, a CA that is not PEM, and a client cert without key are refused; insecure turns verification off', async () => {
    const missing = join(dir, 'no-ca.pem');
    expect(await usageMessage(() => loadTargetTls({ ca: missing }, 'record.upstream_tls'))).toContain(`record.upstream_tls: cannot read CA file ${missing}`);
    expect(await usageMessage(() => loadTargetTls({ ca: key }, 'replay.target_tls'))).toContain(`replay.target_tls: ${key} is not a PEM certificate`);
    expect(await usageMessage(() => loadTargetTls({ cert }, 'shadow.candidate_tls'))).toContain('shadow.candidate_tls: a client certificate needs both cert and key files');
    expect(await usageMessage(() => loadTargetTls({ cert, key: otherKey }, 'shadow.primary_tls'))).toContain('the key does not belong to the certificate');
    expect(loadTargetTls(undefined, 'x')).toBeUndefined();
    expect(loadTargetTls({ insecure: true }, 'x')).toEqual({ rejectUnauthorized: false });
    const full = loadTargetTls({ ca: cert, cert, key }, 'x');
    expect(full?.rejectUnauthorized).toBe(true);
    expect(full?.ca?.toString()).toContain('BEGIN CERTIFICATE');
    expect(full?.key?.toString()).toMatch(/BEGIN (RSA )?PRIVATE KEY/);
  });
});
