import { isIP } from 'node:net';
import { DoppelError } from './errors.js';

export interface HostPort {
  host: string;
  port: number;
}

/** Parses `host:port` / `[v6]:port`. Listeners default to 127.0.0.1 (DESIGN.md). */
export function parseHostPort(value: string, what = 'address'): HostPort {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new DoppelError('DOPPEL_USAGE', `invalid ${what} ${JSON.stringify(value)}: expected host:port, e.g. 127.0.0.1:8080`);
  }
  const host = m[1] ?? (m[2] === '' || m[2] === undefined ? '127.0.0.1' : m[2]);
  return { host, port };
}

export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

export function formatHostPort(hp: HostPort): string {
  return isIP(hp.host) === 6 ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}
