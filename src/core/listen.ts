/**
 * Binding a listener: one mechanism for every port doppel opens (admin API,
 * record proxy, shadow listener, HTTP mocks, Postgres mocks and relays), so a
 * taken or impossible address is always exit 2 with the address and the flag
 * that moves it, never an internal error.
 */
import type { AddressInfo, Server } from 'node:net';
import { formatHostPort, type HostPort } from './address.js';
import { DoppelError, describeError } from './errors.js';

/** Said when a listener's caller does not name its flag. */
const UNNAMED = 'its listen address';

/** Why a bind failed, in words a person acts on (errno codes of listen(2) and bind(2)). */
const REASONS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address already in use (another process is listening there)',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'address not available on this machine',
};

function reasonOf(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return (code === undefined ? undefined : REASONS[code]) ?? describeError(err);
}

/**
 * The error for a listener that could not bind. `flag` names what moves it,
 * e.g. `--admin ADDR (admin.listen)`.
 */
export function listenFailure(err: unknown, address: string, flag: string = UNNAMED): DoppelError {
  return new DoppelError('DOPPEL_USAGE', `cannot listen on ${address}: ${reasonOf(err)}; choose another address with ${flag}`, { cause: err });
}

/** Listens and resolves with the bound address (the real port when 0 was asked); a bind error rejects with listenFailure. */
export function listenOn(server: Server, at: HostPort, flag: string = UNNAMED): Promise<AddressInfo> {
  return new Promise<AddressInfo>((resolve, reject) => {
    const onError = (err: Error) => reject(listenFailure(err, formatHostPort(at), flag));
    server.once('error', onError);
    server.listen(at.port, at.host, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}
