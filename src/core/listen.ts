/**
 * Binding a listener: one mechanism for every port doppel opens (admin API,
 * record proxy, shadow listener, HTTP mocks, Postgres mocks and relays), so a
 * taken or impossible address is always exit 2 with the address and the flag
 * that moves it, never an internal error. HTTP listeners are made here too,
 * plain or TLS, so every one of them gets the same certificate handling, the
 * same ALPN list and HTTP/2 next to HTTP/1.1 (./http2-listener.ts).
 */
import { createServer as createPlainServer, type Server as HttpServer, type ServerOptions } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo, Server, Socket } from 'node:net';
import { addHttp2, type Http2ListenerOptions } from './http2-listener.js';
import type { TLSSocket } from 'node:tls';
import { formatHostPort, type HostPort } from './address.js';
import { DoppelError, describeError } from './errors.js';
import type { Logger } from './logger.js';
import type { ServerTls } from './tls.js';

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

/**
 * An HTTP server, over TLS when `tls` is given; its certificate follows the
 * ServerTls's reloads. It serves HTTP/1.1 and HTTP/2 (ALPN h2 over TLS, prior
 * knowledge in clear text) unless `h2.enabled` is false: an HTTP/2 request
 * arrives as a 'request' event like any other, with the compatibility API's
 * req/res (httpVersionMajor 2), or as a stream to `h2.onStream` when given.
 */
export function createHttpListener(options: ServerOptions, tls: ServerTls | undefined, log?: Logger, h2: Http2ListenerOptions = {}): HttpServer {
  if (tls === undefined) {
    const plain = createPlainServer(options);
    if (h2.enabled !== false) addHttp2(plain, false, log, h2);
    return plain;
  }
  // A client that connects and never finishes its handshake is bounded like one that never sends its head.
  const server = createTlsServer({ handshakeTimeout: options.headersTimeout ?? 30_000, ...options, ...tls.serverOptions(h2.enabled !== false) });
  tls.attach(server);
  if (h2.enabled !== false) addHttp2(server, true, log, h2);
  // Plain HTTP or a failed handshake: that socket is closed (Node's default); say why at debug.
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    log?.debug({ code: err.code, reason: err.message, remote: socket.remoteAddress }, 'tls handshake failed');
    socket.destroy();
  });
  return server;
}

/** The socket event that carries the connection requests arrive on: the TLS socket once the handshake is done. */
export function connectionEvent(tls: ServerTls | undefined): 'connection' | 'secureConnection' {
  return tls === undefined ? 'connection' : 'secureConnection';
}

/** Exchange tags of a TLS connection: the negotiated version and ALPN protocol; undefined for plain TCP. */
export function tlsTagsOf(socket: Socket): Record<string, string> | undefined {
  const s = socket as Partial<TLSSocket>;
  if (s.encrypted !== true || typeof s.getProtocol !== 'function') return undefined;
  const tags: Record<string, string> = {};
  const version = s.getProtocol();
  if (version !== null && version !== undefined) tags['tls.version'] = version;
  if (typeof s.alpnProtocol === 'string') tags['tls.alpn'] = s.alpnProtocol;
  return tags;
}
