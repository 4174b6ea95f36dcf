/**
 * TLS material for every HTTP listener and every outbound target, checked
 * once at start so a bad file is exit 2 naming it, never a failed handshake
 * later. Listener certificates are re-read on reload (SIGHUP) and swapped in
 * with `setSecureContext`: open connections keep the context they shook
 * hands with, new ones get the new certificate.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContextOptions, type Server as TlsServer, type TlsOptions } from 'node:tls';
import { resolve as resolvePath } from 'node:path';
import { DoppelError, describeError } from './errors.js';
import type { Logger } from './logger.js';

/** `tls:` of a listener: a certificate and key file, or `generate: true` for a self-signed local pair. */
export interface ListenerTlsConfig {
  cert?: string | undefined;
  key?: string | undefined;
  generate?: boolean | undefined;
}

/** `*_tls:` of an outbound target: trusted CA, client certificate, and whether to skip verification. */
export interface TargetTlsConfig {
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  insecure?: boolean | undefined;
}

/**
 * ALPN protocols the listeners offer (RFC 7301), in the server's order of
 * preference: h2 first (RFC 9113 §3.2), http/1.1 for clients without it.
 */
export const SERVED_ALPN: readonly string[] = ['h2', 'http/1.1'];
/** What a listener that serves HTTP/1.1 only offers: never a protocol nobody answers. */
export const HTTP1_ALPN: readonly string[] = ['http/1.1'];

/** A listener's certificate, shared by the servers it is attached to. */
export interface ServerTls {
  /** what the certificate is for, in log lines and errors, e.g. `record.tls` */
  readonly label: string;
  /** SHA-256 fingerprint of the certificate served now (colon-separated hex) */
  readonly fingerprint: string;
  readonly isGenerated: boolean;
  /** options for https.createServer / tls.createServer; `h2: false` for a listener that serves HTTP/1.1 only */
  serverOptions(h2?: boolean): TlsOptions;
  /** servers whose certificate reload() swaps */
  attach(server: TlsServer): void;
  /** re-reads the files; on any problem keeps the current certificate and rejects */
  reload(): Promise<void>;
}

/** Connect options for undici and https.request. */
export interface TargetTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized: boolean;
}

export interface Pair {
  cert: string | Buffer;
  key: string | Buffer;
}

export function fingerprintOf(cert: string | Buffer): string {
  return new X509Certificate(cert).fingerprint256;
}

/** Fails with exit 2 when the key does not belong to the certificate or either is not PEM. */
function checkPair(pair: SecureContextOptions, label: string, files: string): void {
  try {
    createSecureContext(pair);
  } catch (cause) {
    const code = (cause as { code?: string }).code ?? '';
    const why = code.includes('KEY_VALUES_MISMATCH') ? 'the key does not belong to the certificate' : describeError(cause);
    throw new DoppelError('DOPPEL_CONFIG_INVALID', `${label}: ${files}: ${why}`, { cause });
  }
}

async function readPem(file: string, what: string, label: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (cause) {
    throw new DoppelError('DOPPEL_CONFIG_NOT_FOUND', `${label}: cannot read ${what} file ${file}: ${describeError(cause)}`, { cause });
  }
}

function readPemSync(file: string, what: string, label: string): Buffer {
  try {
    return readFileSync(file);
  } catch (cause) {
    throw new DoppelError('DOPPEL_CONFIG_NOT_FOUND', `${label}: cannot read ${what} file ${file}: ${describeError(cause)}`, { cause });
  }
}

/** A self-signed pair for local use (localhost, 127.0.0.1, ::1): every listener that offers `generate: true` makes it here. */
export async function generatePair(commonName = 'doppel-local'): Promise<Pair> {
  // Loaded here, not at start-up: it pulls in node-forge (about 170 ms), and only `generate: true` needs it.
  const { generate } = await import('selfsigned');
  const pems = await generate([{ name: 'commonName', value: commonName }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }] }],
  });
  return { cert: pems.cert, key: pems.private };
}

export interface LoadServerTlsOptions {
  label: string;
  log: Logger;
  /** relative cert and key paths resolve against it */
  cwd?: string | undefined;
}

/** Reads (or generates) a listener's pair; undefined when the listener has no `tls`. */
export async function loadServerTls(cfg: ListenerTlsConfig | undefined, opts: LoadServerTlsOptions): Promise<ServerTls | undefined> {
  if (cfg === undefined) return undefined;
  const { label } = opts;
  const hasFiles = cfg.cert !== undefined || cfg.key !== undefined;
  if (hasFiles && cfg.generate === true) {
    throw new DoppelError('DOPPEL_CONFIG_INVALID', `${label}: give cert and key files, or generate: true, not both`);
  }
  if (!hasFiles && cfg.generate !== true) {
    throw new DoppelError('DOPPEL_CONFIG_INVALID', `${label}: give cert and key files (--tls-cert FILE --tls-key FILE), or generate: true`);
  }
  if (hasFiles && (cfg.cert === undefined || cfg.key === undefined)) {
    throw new DoppelError('DOPPEL_CONFIG_INVALID', `${label}: give both a cert and a key file (--tls-cert FILE --tls-key FILE)`);
  }
  const certFile = cfg.cert === undefined ? undefined : resolvePath(opts.cwd ?? '.', cfg.cert);
  const keyFile = cfg.key === undefined ? undefined : resolvePath(opts.cwd ?? '.', cfg.key);
  const readPair = async (): Promise<Pair> => {
    const pair = { cert: await readPem(certFile as string, 'certificate', label), key: await readPem(keyFile as string, 'key', label) };
    checkPair(pair, label, `${certFile} / ${keyFile}`);
    return pair;
  };
  const isGenerated = certFile === undefined;
  let pair = isGenerated ? await generatePair() : await readPair();
  let fingerprint = fingerprintOf(pair.cert);
  const servers = new Set<TlsServer>();
  const log = opts.log.child({ component: 'tls', listener: label });
  if (isGenerated) log.info({ sha256: fingerprint }, 'tls: serving a generated self-signed certificate; trust it by this fingerprint');
  else log.info({ sha256: fingerprint, cert: certFile }, 'tls: certificate loaded');
  return {
    label,
    get fingerprint() {
      return fingerprint;
    },
    isGenerated,
    serverOptions: (h2 = true) => ({ cert: pair.cert, key: pair.key, ALPNProtocols: [...(h2 ? SERVED_ALPN : HTTP1_ALPN)] }),
    attach(server) {
      servers.add(server);
      server.once('close', () => servers.delete(server));
    },
    async reload() {
      // A generated pair has no file to re-read; a new one would break clients that pinned it.
      if (isGenerated) return;
      let next: Pair;
      try {
        next = await readPair();
      } catch (err) {
        log.error({ err: describeError(err), sha256: fingerprint }, 'tls: reload failed; keeping the current certificate');
        throw err;
      }
      pair = next;
      fingerprint = fingerprintOf(next.cert);
      for (const s of servers) s.setSecureContext({ cert: next.cert, key: next.key });
      log.info({ sha256: fingerprint, cert: certFile }, 'tls: certificate reloaded');
    },
  };
}

/** Reads a target's CA and client pair at start; undefined when nothing is configured. */
export function loadTargetTls(cfg: TargetTlsConfig | undefined, label: string, cwd = '.'): TargetTls | undefined {
  if (cfg === undefined) return undefined;
  if ((cfg.cert === undefined) !== (cfg.key === undefined)) {
    throw new DoppelError('DOPPEL_CONFIG_INVALID', `${label}: a client certificate needs both cert and key files`);
  }
  const out: TargetTls = { rejectUnauthorized: cfg.insecure !== true };
  if (cfg.ca !== undefined) {
    const file = resolvePath(cwd, cfg.ca);
    out.ca = readPemSync(file, 'CA', label);
    try {
      new X509Certificate(out.ca);
    } catch (cause) {
      throw new DoppelError('DOPPEL_CONFIG_INVALID', `${label}: ${file} is not a PEM certificate: ${describeError(cause)}`, { cause });
    }
  }
  if (cfg.cert !== undefined && cfg.key !== undefined) {
    const certFile = resolvePath(cwd, cfg.cert);
    const keyFile = resolvePath(cwd, cfg.key);
    out.cert = readPemSync(certFile, 'client certificate', label);
    out.key = readPemSync(keyFile, 'client key', label);
    checkPair({ cert: out.cert, key: out.key }, label, `${certFile} / ${keyFile}`);
  }
  return out;
}
