/**
 * An HTTP/2 upstream whose framing the test controls: it speaks just enough
 * HTTP/2 by hand to take requests, over TLS with ALPN h2 (RFC 9113 §3.2),
 * and leaves the answers to the test, which builds them from the frame
 * functions below and sends each as ONE socket write, cut into TLS records
 * at known offsets. Node's http2 server cannot be made to do that: it
 * decides itself which frames go out together.
 *
 * It reads the client preface and frames (§3.4, §4.1), acknowledges SETTINGS
 * (§6.5.3) and PING (§6.7), and hands a stream to `onRequest` once the client
 * ended its side (END_STREAM). Request header blocks are not decoded (no
 * HPACK decoder here), so requests are told apart by stream id only. Request
 * bodies are ignored and no WINDOW_UPDATE is sent, so they must stay within
 * the initial 65,535-octet window (§6.9.2); flow control of the answers is
 * the test's to respect. Header blocks are HPACK literals without indexing
 * and without Huffman coding (RFC 7541 §6.2.2, §5.2), which leave the
 * dynamic table alone.
 */
import type { AddressInfo, Socket } from 'node:net';
import { createServer } from 'node:tls';

/** Frame types and flags, RFC 9113 §6. */
const FRAME = { DATA: 0x0, HEADERS: 0x1, SETTINGS: 0x4, PING: 0x6, GOAWAY: 0x7, CONTINUATION: 0x9 } as const;
const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;
/** §3.4: the client's connection preface, before its SETTINGS frame. */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME_HEADER_BYTES = 9;
/** §4.2: SETTINGS_MAX_FRAME_SIZE starts at 2^14 and this server never asks for more. */
const MAX_FRAME_BYTES = 16_384;
/** RFC 8446 §5.1: a TLS record carries at most 2^14 octets of plaintext; one write of more is cut there. */
export const TLS_RECORD_PLAINTEXT_BYTES = 16_384;
/** RFC 7541 Appendix A: the static table's index of the name `:status`. */
const STATUS_NAME_INDEX = 8;

function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  if (payload.length > MAX_FRAME_BYTES) throw new Error(`frame payload of ${payload.length} octets is over SETTINGS_MAX_FRAME_SIZE`);
  const head = Buffer.alloc(FRAME_HEADER_BYTES);
  head.writeUIntBE(payload.length, 0, 3);
  head.writeUInt8(type, 3);
  head.writeUInt8(flags, 4);
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** RFC 7541 §5.1: an integer on an N-bit prefix, `first` holding the bits above the prefix. */
function hpackInteger(value: number, prefixBits: number, first: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

/** RFC 7541 §5.2: a string literal, H bit clear (no Huffman coding). */
function hpackString(text: string): Buffer {
  const bytes = Buffer.from(text, 'latin1');
  return Buffer.concat([Buffer.from(hpackInteger(bytes.length, 7, 0x00)), bytes]);
}

/**
 * A response head in one HEADERS frame (END_HEADERS): :status by its static name index, each
 * field with a literal name (lower-case, RFC 9113 §8.2.1), in the order given.
 */
export function headersFrame(streamId: number, status: number, fields: ReadonlyArray<readonly [string, string]>, isEndOfStream: boolean): Buffer {
  const block = [Buffer.from(hpackInteger(STATUS_NAME_INDEX, 4, 0x00)), hpackString(String(status))];
  for (const [name, value] of fields) block.push(Buffer.from([0x00]), hpackString(name), hpackString(value));
  return frame(FRAME.HEADERS, FLAG.END_HEADERS | (isEndOfStream ? FLAG.END_STREAM : 0), streamId, Buffer.concat(block));
}

export function dataFrame(streamId: number, payload: Buffer, isEndOfStream: boolean): Buffer {
  return frame(FRAME.DATA, isEndOfStream ? FLAG.END_STREAM : 0, streamId, payload);
}

/** §6.7: a PING the peer must answer with a PING ACK, i.e. something it has to write. */
export function pingFrame(opaque: Buffer): Buffer {
  if (opaque.length !== 8) throw new Error('a PING frame carries 8 octets');
  return frame(FRAME.PING, 0, 0, opaque);
}

export interface H2FrameConnection {
  /**
   * Writes `bytes` as one socket write, once every earlier write of this connection went out, so
   * nothing else shares it: one SSL_write, its records cut every TLS_RECORD_PLAINTEXT_BYTES
   * octets from the first byte of `bytes`.
   */
  send(bytes: Buffer): void;
}

export interface H2FrameUpstream {
  /** https://127.0.0.1:port */
  readonly url: string;
  close(): Promise<void>;
}

export interface H2FrameUpstreamOptions {
  /** the server's certificate and key */
  tls: { cert: string; key: string };
  /** a request whose client side ended, on the connection that answers it */
  onRequest(streamId: number, connection: H2FrameConnection): void;
}

/** Socket writes, each alone: a write waits until the ones before it went out. */
function writerOf(socket: Socket): H2FrameConnection {
  let inFlight = 0;
  const queued: Buffer[] = [];
  const write = (bytes: Buffer) => {
    inFlight++;
    socket.write(bytes, () => {
      inFlight--;
      const next = queued.shift();
      if (next !== undefined) write(next);
    });
  };
  return {
    send(bytes) {
      if (inFlight === 0 && !socket.destroyed) write(bytes);
      else queued.push(bytes);
    },
  };
}

/** One connection: the preface, then frames as they come whole. */
function serve(socket: Socket, opts: H2FrameUpstreamOptions): void {
  const connection = writerOf(socket);
  let pending = Buffer.alloc(0);
  let hasPreface = false;
  /** a stream whose request ended on a HEADERS frame still waiting for its CONTINUATION frames (§6.10) */
  let endsAfterContinuation: number | undefined;
  socket.on('error', () => undefined);
  // §3.4: the server's preface is a SETTINGS frame, here with no parameters (all defaults).
  connection.send(frame(FRAME.SETTINGS, 0, 0));
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    if (!hasPreface) {
      if (pending.length < PREFACE.length) return;
      if (!pending.subarray(0, PREFACE.length).equals(PREFACE)) {
        socket.destroy();
        return;
      }
      hasPreface = true;
      pending = pending.subarray(PREFACE.length);
    }
    while (pending.length >= FRAME_HEADER_BYTES) {
      const length = pending.readUIntBE(0, 3);
      if (pending.length < FRAME_HEADER_BYTES + length) return;
      const type = pending.readUInt8(3);
      const flags = pending.readUInt8(4);
      const streamId = pending.readUInt32BE(5) & 0x7fffffff;
      const payload = pending.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length);
      pending = pending.subarray(FRAME_HEADER_BYTES + length);
      switch (type) {
        case FRAME.SETTINGS:
          if ((flags & FLAG.ACK) === 0) connection.send(frame(FRAME.SETTINGS, FLAG.ACK, 0));
          break;
        case FRAME.PING:
          if ((flags & FLAG.ACK) === 0) connection.send(frame(FRAME.PING, FLAG.ACK, 0, Buffer.from(payload)));
          break;
        case FRAME.HEADERS:
          // A request with trailers ends on its second HEADERS frame: handed over then, the same way.
          if ((flags & FLAG.END_STREAM) === 0) break;
          if ((flags & FLAG.END_HEADERS) !== 0) opts.onRequest(streamId, connection);
          else endsAfterContinuation = streamId;
          break;
        case FRAME.CONTINUATION:
          if ((flags & FLAG.END_HEADERS) !== 0 && endsAfterContinuation === streamId) {
            endsAfterContinuation = undefined;
            opts.onRequest(streamId, connection);
          }
          break;
        case FRAME.DATA:
          if ((flags & FLAG.END_STREAM) !== 0) opts.onRequest(streamId, connection);
          break;
        case FRAME.GOAWAY:
          socket.end();
          return;
        default:
          // WINDOW_UPDATE, PRIORITY, RST_STREAM, PING ACK: nothing to do.
          break;
      }
    }
  });
}

export async function startH2FrameUpstream(opts: H2FrameUpstreamOptions): Promise<H2FrameUpstream> {
  const sockets = new Set<Socket>();
  const accept = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    serve(socket, opts);
  };
  // ALPN h2 alone: a client that does not offer it fails the handshake (RFC 7301 §3.2).
  const server = createServer({ cert: opts.tls.cert, key: opts.tls.key, ALPNProtocols: ['h2'] }, accept);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
