/**
 * Socket reads into one buffer, used again for every read, each read copied
 * out at its size: what net.connect's `onread` option does. Node otherwise
 * allocates 64 KiB per read, shrinks it to the bytes read and pushes the
 * result through the stream machinery as a chunk.
 *
 * One buffer serves every socket: libuv reads a socket and calls back before
 * it reads another, and the callback copies the bytes out, so the buffer is
 * free again before any other read can land in it. A relay holding many idle
 * connections holds no buffer per connection.
 *
 * Node offers `onread` only for sockets it connects. A socket a server
 * accepts is switched here the way net.js sets up an `onread` socket: the
 * same three fields on the socket and `useUserBuffer` on its handle. Those
 * fields are Node's own (found by their names on a probe socket made with
 * `onread`), so where a Node version lacks them or the handle cannot take a
 * buffer, `readIntoBuffer` returns false and the caller keeps 'data' events.
 */
import { Socket, type OnReadOpts, type SocketConstructorOpts } from 'node:net';

/** Called with each read's bytes, a copy of their own; false stops reading until `socket.resume()`. */
export type OnChunk = (chunk: Buffer) => boolean;

/** What one read takes at most: Node's own read size. */
const READ_BUFFER_BYTES = 64 * 1024;
const readBuffer = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);

interface ReadFields {
  buffer: symbol;
  callback: symbol;
  generator: symbol;
}

/** The fields net.js keeps an `onread` socket's buffer and callback in, or undefined on a Node without them. */
function probeReadFields(): ReadFields | undefined {
  const buffer = Buffer.alloc(1);
  const callback = () => true;
  // net.Socket takes `onread` as net.connect does (net.connect passes its options on); the typings list it for connect only.
  const probe = new Socket({ onread: { buffer, callback } } as SocketConstructorOpts);
  const own = probe as unknown as Record<symbol, unknown>;
  const named = (d: string) => Object.getOwnPropertySymbols(probe).find((s) => s.description === d);
  const fields = { buffer: named('kBuffer'), callback: named('kBufferCb'), generator: named('kBufferGen') };
  probe.destroy();
  if (fields.buffer === undefined || fields.callback === undefined || fields.generator === undefined) return undefined;
  // The fields must hold what `onread` set, or they are not the ones onStreamRead reads.
  if (own[fields.buffer] !== buffer || own[fields.callback] !== callback || own[fields.generator] !== null) return undefined;
  return fields as ReadFields;
}

const readFields = probeReadFields();

/** true where accepted sockets can be switched to buffer reads: on this Node, so a test can hold it to that. */
export const canReadAcceptedSocketsIntoBuffer = readFields !== undefined;

function copiedOut(onChunk: OnChunk): (n: number) => boolean {
  return (n) => {
    const chunk = Buffer.allocUnsafe(n);
    readBuffer.copy(chunk, 0, 0, n);
    return onChunk(chunk);
  };
}

/** `onread` options for net.connect: reads into the shared buffer, each copied out for `onChunk`. */
export function copyingReads(onChunk: OnChunk): OnReadOpts {
  return { buffer: readBuffer, callback: copiedOut(onChunk) };
}

/**
 * Switches a paused socket to reads into the shared buffer. Bytes Node had
 * already read into the stream's own buffer go to `onChunk` first. The
 * caller then calls `socket.resume()`. false: not possible here; nothing was
 * changed.
 */
export function readIntoBuffer(socket: Socket, onChunk: OnChunk): boolean {
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: (b: Uint8Array) => void } | null })._handle;
  if (readFields === undefined || typeof handle?.useUserBuffer !== 'function' || socket.readableEnded) return false;
  for (let c = socket.read() as Buffer | null; c !== null; c = socket.read() as Buffer | null) onChunk(c);
  const own = socket as unknown as Record<symbol, unknown>;
  own[readFields.buffer] = readBuffer;
  own[readFields.generator] = null;
  own[readFields.callback] = copiedOut(onChunk);
  handle.useUserBuffer(readBuffer);
  return true;
}
