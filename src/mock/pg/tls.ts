/**
 * TLS material for the Postgres mock: a configured certificate and key, or
 * a self-signed pair made at start for clients that require TLS (sslmode
 * require does not verify the certificate).
 */
import { readFile } from 'node:fs/promises';
import { DoppelError } from '../../core/errors.js';
import { generatePair } from '../../core/tls.js';
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
  return generatePair('doppel-mock');
}
