/**
 * TLS material for the Postgres mock: a configured certificate and key, or
 * a self-signed pair made at start for clients that require TLS (sslmode
 * require does not verify the certificate).
 */
import { readFile } from 'node:fs/promises';
import { generate } from 'selfsigned';
import { DoppelError } from '../../core/errors.js';
import type { PgMockTls } from './types.js';

export interface PgTlsConfig {
  cert?: string | undefined;
  key?: string | undefined;
  generate?: boolean | undefined;
}

/** Reads or generates the mock's TLS pair; undefined when TLS is not configured. */
export async function loadPgMockTls(cfg: PgTlsConfig | undefined): Promise<PgMockTls | undefined> {
  if (cfg === undefined) return undefined;
  if (cfg.cert !== undefined || cfg.key !== undefined) {
    if (cfg.cert === undefined || cfg.key === undefined) {
      throw new DoppelError('DOPPEL_CONFIG_INVALID', 'pg mock tls: give both cert and key files, or generate: true');
    }
    try {
      return { cert: await readFile(cfg.cert), key: await readFile(cfg.key) };
    } catch (cause) {
      throw new DoppelError('DOPPEL_CONFIG_NOT_FOUND', `pg mock tls: cannot read ${cfg.cert} / ${cfg.key}`, { cause });
    }
  }
  if (!cfg.generate) return undefined;
  const pems = await generate([{ name: 'commonName', value: 'doppel-mock' }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] }],
  });
  return { cert: pems.cert, key: pems.private };
}
