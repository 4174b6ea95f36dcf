/**
 * A programmable faulty peer on a real socket: it stands where doppel expects
 * an HTTP server (a candidate, a replay target, an upstream, a dependency) or
 * a Postgres server (behind the record relay or mock passthrough), and
 * misbehaves in one chosen way on every connection. `open` counts the
 * connections doppel still holds to it, so a test can wait for doppel to let
 * go of each one instead of trusting a sleep.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { refusingPort } from './ports.js';

export const HTTP_FAULTS = [
  'refuse',
  'hang',
  'reset_mid_headers',
  'reset_mid_body',
  'drip_body',
  'garbage_10mb',
  'content_length_short',
  'content_length_long',
  'endless_chunked',
] as const;
export type HttpFault = (typeof HTTP_FAULTS)[number];

export const PG_FAULTS = ['refuse', 'hang', 'close_mid_message', 'message_of_1gb'] as const;
export type PgFault = (typeof PG_FAULTS)[number];

export interface FaultyPeer {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  /** connections accepted so far */
  readonly accepted: number;
  /** connections still open (doppel's side not yet closed) */
  readonly open: number;
  close(): Promise<void>;
}

export interface FaultOptions {
  /** gap between bytes of drip_body (default 1000 ms: 1 byte/s) */
  dripMs?: number;
}

const GARBAGE = randomBytes(10 * 1024 * 1024);
const CHUNK = Buffer.alloc(64 * 1024, 0x61);
const CHUNK_FRAME = Buffer.concat([Buffer.from(`${CHUNK.length.toString(16)}\r\n`), CHUNK, Buffer.from('\r\n')]);

/** Writes `chunk` again and again while the peer reads, until the socket closes. */
function flood(sock: Socket, chunk: Buffer): void {
  const pump = () => {
    while (!sock.destroyed && sock.write(chunk));
  };
  sock.on('drain', pump);
  pump();
}

function drip(sock: Socket, bytes: Buffer, everyMs: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (i >= bytes.length || sock.destroyed) return clearInterval(timer);
    sock.write(bytes.subarray(i, ++i));
  }, everyMs);
  sock.once('close', () => clearInterval(timer));
}

function doHttpFault(sock: Socket, fault: Exclude<HttpFault, 'refuse'>, opts: FaultOptions): void {
  switch (fault) {
    case 'hang':
      return;
    case 'reset_mid_headers':
      sock.write('HTTP/1.1 200 OK\r\nContent-Type: appl');
      setImmediate(() => sock.resetAndDestroy());
      return;
    case 'reset_mid_body':
      sock.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"partial":');
      setImmediate(() => sock.resetAndDestroy());
      return;
    case 'drip_body':
      sock.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n');
      drip(sock, Buffer.alloc(100, 0x62), opts.dripMs ?? 1000);
      return;
    case 'garbage_10mb':
      sock.end(GARBAGE);
      return;
    case 'content_length_short':
      // Declares 5, sends more: the answer is the first 5 bytes, the rest is not a response.
      sock.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello and 30 bytes beyond it....');
      return;
    case 'content_length_long':
      sock.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\nonly these');
      return;
    case 'endless_chunked':
      sock.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n');
      flood(sock, CHUNK_FRAME);
      return;
    default: {
      const never: never = fault;
      return never;
    }
  }
}

/** Answers startup with AuthenticationOk and ReadyForQuery, then does the fault on the first Query. */
function doPgFault(sock: Socket, fault: Exclude<PgFault, 'refuse'>): void {
  let buf = Buffer.alloc(0);
  let isStarted = false;
  sock.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    if (!isStarted) {
      if (buf.length < 8) return;
      const len = buf.readInt32BE(0);
      if (len === 8 && buf.readInt32BE(4) === 80877103) {
        sock.write('N');
        buf = buf.subarray(8);
        return;
      }
      if (buf.length < len) return;
      buf = buf.subarray(len);
      isStarted = true;
      const ok = Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0]);
      const ready = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);
      sock.write(Buffer.concat([ok, ready]));
    }
    if (buf.length < 5 || buf[0] !== 0x51) return;
    buf = Buffer.alloc(0);
    switch (fault) {
      case 'hang':
        return;
      case 'close_mid_message': {
        // A RowDescription that declares 100 bytes, cut after 10.
        const head = Buffer.from([0x54, 0, 0, 0, 100]);
        sock.end(Buffer.concat([head, Buffer.alloc(10)]));
        return;
      }
      case 'message_of_1gb': {
        // A DataRow declared at 1 GB; its first bytes follow, then nothing more.
        const head = Buffer.alloc(5);
        head[0] = 0x44;
        head.writeInt32BE(1024 * 1024 * 1024, 1);
        sock.write(Buffer.concat([head, Buffer.alloc(64 * 1024)]));
        return;
      }
      default: {
        const never: never = fault;
        return never;
      }
    }
  });
}

/** A refusing peer is a port nothing listens on, outside the range any other test's listen(0) could take. */
async function refusingPeer(): Promise<FaultyPeer> {
  const port = await refusingPort();
  return { host: '127.0.0.1', port, url: `http://127.0.0.1:${port}`, accepted: 0, open: 0, close: () => Promise.resolve() };
}

async function listenPeer(onSocket: (s: Socket) => void): Promise<FaultyPeer> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.once('close', () => sockets.delete(s));
    onSocket(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const close = () =>
    new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });
  return {
    host: '127.0.0.1',
    port,
    url: `http://127.0.0.1:${port}`,
    get accepted() {
      return accepted;
    },
    get open() {
      return sockets.size;
    },
    close,
  };
}

export function startFaultyHttpPeer(fault: HttpFault, opts: FaultOptions = {}): Promise<FaultyPeer> {
  if (fault === 'refuse') return refusingPeer();
  return listenPeer((s) => {
    let head = '';
    const onData = (c: Buffer) => {
      head += c.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      s.off('data', onData);
      // Later bytes (a body, the next request) are read and ignored, so they never stall the sender.
      s.resume();
      doHttpFault(s, fault, opts);
    };
    s.on('data', onData);
  });
}

export function startFaultyPgPeer(fault: PgFault): Promise<FaultyPeer> {
  if (fault === 'refuse') return refusingPeer();
  return listenPeer((s) => doPgFault(s, fault));
}
