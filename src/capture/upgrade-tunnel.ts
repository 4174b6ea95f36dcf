/**
 * Passes HTTP/1.1 Upgrade requests (WebSocket, RFC 6455 §4) through as a raw
 * byte tunnel: the request head is re-sent to the upstream as received and the
 * two sockets are piped. Tunnels are not recorded.
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../core/logger.js';
import type { TargetTls } from '../core/tls.js';

export function tunnelUpgrade(
  req: IncomingMessage,
  client: Duplex,
  head: Buffer,
  target: URL,
  hostOverride: string | undefined,
  log: Logger,
  targetTls?: TargetTls,
): void {
  const isTls = target.protocol === 'https:';
  const port = Number(target.port) || (isTls ? 443 : 80);
  const upstream: Socket = isTls
    ? // SNI carries host names only (RFC 6066 §3); an IP target is verified against its IP SANs.
      tlsConnect({ ...targetTls, host: target.hostname, port, ...(isIP(target.hostname) === 0 ? { servername: target.hostname } : {}) })
    : netConnect({ host: target.hostname, port });
  let headText = `${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/1.1\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    if (hostOverride !== undefined && name.toLowerCase() === 'host') headText += `${name}: ${hostOverride}\r\n`;
    else headText += `${name}: ${raw[i + 1] as string}\r\n`;
  }
  headText += '\r\n';
  const fail = (err: Error) => {
    log.debug({ err: err.message }, 'upgrade tunnel closed with error');
    if (!client.destroyed) {
      if (client.writable && !upstreamConnected) client.end('HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else client.destroy();
    }
    upstream.destroy();
  };
  let upstreamConnected = false;
  upstream.once(isTls ? 'secureConnect' : 'connect', () => {
    upstreamConnected = true;
    upstream.write(headText);
    if (head.length > 0) upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
  });
  upstream.on('error', fail);
  client.on('error', () => upstream.destroy());
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
}
