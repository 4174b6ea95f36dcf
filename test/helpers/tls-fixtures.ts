/**
 * Certificates made at test time: a CA, leaf certificates it signs for
 * 127.0.0.1/localhost, and a self-signed leaf, written as PEM files.
 */
import { writeFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';
import { generate } from 'selfsigned';

export interface Pem {
  cert: string;
  key: string;
}

export interface PemFiles {
  cert: string;
  key: string;
  fingerprint: string;
}


export async function makeCa(name: string): Promise<Pem> {
  const p = await generate([{ name: 'commonName', value: name }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true },
    ],
  });
  return { cert: p.cert, key: p.private };
}

/** A leaf for 127.0.0.1 and localhost, signed by `ca` or self-signed when absent. */
export async function makeLeaf(name: string, ca?: Pem): Promise<Pem> {
  const p = await generate([{ name: 'commonName', value: name }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [{ name: 'basicConstraints', cA: false }, { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    ],
    ...(ca === undefined ? {} : { ca }),
  });
  return { cert: p.cert, key: p.private };
}

export async function writePem(dir: string, base: string, pem: Pem): Promise<PemFiles> {
  const cert = join(dir, `${base}.pem`);
  const key = join(dir, `${base}-key.pem`);
  await writeFile(cert, pem.cert);
  await writeFile(key, pem.key);
  return { cert, key, fingerprint: new X509Certificate(pem.cert).fingerprint256 };
}

/** The certificate a TLS listener presents to a new connection, without verifying it. */
export function peerCertificate(port: number): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
      const c = s.getPeerCertificate();
      s.end();
      resolve(c);
    });
    s.on('error', reject);
  });
}
