/**
 * Real HTTP peers for shadow tests: a primary, a candidate held until the
 * test releases it, one that refuses connections, one that resets mid-response.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface Peer {
  readonly url: string;
  readonly server: Server;
  /** requests seen, in arrival order */
  readonly seen: Array<{ method: string; url: string; headers: Record<string, string | string[] | undefined>; body: string }>;
  close(): Promise<void>;
}

export interface HeldPeer extends Peer {
  /** requests currently held */
  readonly held: number;
  /** most requests held at once */
  readonly maxHeld: number;
  /** answers every held request and every later one at once */
  release(): void;
}

type Handler = (req: IncomingMessage, body: Buffer, res: ServerResponse) => void;

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function closer(server: Server, sockets: Set<Socket>): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });
}

export async function startPeer(handler: Handler): Promise<Peer> {
  const seen: Peer['seen'] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: body.toString('utf8') });
      handler(req, body, res);
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  const url = await listen(server);
  return { url, server, seen, close: closer(server, sockets) };
}

/** A candidate that answers nothing until release(); then it answers like `handler`. */
export async function startHeldPeer(handler: Handler): Promise<HeldPeer> {
  let isReleased = false;
  let held: Array<() => void> = [];
  let maxHeld = 0;
  const peer = await startPeer((req, body, res) => {
    if (isReleased) return handler(req, body, res);
    held.push(() => handler(req, body, res));
    if (held.length > maxHeld) maxHeld = held.length;
  });
  return {
    url: peer.url,
    server: peer.server,
    seen: peer.seen,
    close: () => peer.close(),
    get held() {
      return held.length;
    },
    get maxHeld() {
      return maxHeld;
    },
    release() {
      isReleased = true;
      const h = held;
      held = [];
      for (const f of h) f();
    },
  };
}

/** A peer that sends a status line, headers and part of a body, then resets the connection. */
export async function startResettingPeer(): Promise<Peer> {
  return startPeer((_req, _body, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
    res.write('{"partial":');
    setImmediate(() => res.socket?.resetAndDestroy());
  });
}

/** The primary of most tests: JSON echo of method and url, with a duplicate header and a custom status. */
export function primaryHandler(req: IncomingMessage, body: Buffer, res: ServerResponse): void {
  const text = JSON.stringify({ method: req.method, url: req.url, body: body.toString('utf8') });
  // a flat raw list keeps the duplicate header as two fields
  res.writeHead(req.url?.startsWith('/created') === true ? 201 : 200, ['Content-Type', 'application/json', 'X-Dup', 'one', 'X-Dup', 'two', 'Content-Length', String(Buffer.byteLength(text))]);
  res.end(text);
}

export interface RawAnswer {
  status: number;
  /** raw header pairs as received, Date removed (it is the clock's, not the proxy's) */
  headers: Array<[string, string]>;
  body: string;
}

/** One request on a fresh connection, raw headers kept; rejects when the response is cut off. */
export async function requestRaw(base: string, path: string, opts: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<RawAnswer> {
  const { request } = await import('node:http');
  const u = new URL(path, base);
  return new Promise<RawAnswer>((resolve, reject) => {
    const req = request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method: opts.method ?? 'GET', headers: { ...opts.headers, connection: 'close' }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('aborted', () => reject(new Error('response aborted')));
        res.on('end', () => {
          if (!res.complete) {
            reject(new Error('response incomplete'));
            return;
          }
          const headers: Array<[string, string]> = [];
          for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
            const n = res.rawHeaders[i] as string;
            if (n.toLowerCase() === 'date' || n.toLowerCase() === 'connection' || n.toLowerCase() === 'keep-alive') continue;
            headers.push([n, res.rawHeaders[i + 1] as string]);
          }
          resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks).toString('utf8') });
        });
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}
