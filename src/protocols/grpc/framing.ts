/**
 * gRPC message framing over HTTP/2 DATA: each message is a 1-byte
 * compressed flag, a 4-byte big-endian length and the message bytes
 * ("Length-Prefixed-Message", grpc/doc/PROTOCOL-HTTP2.md). A compressed
 * message is coded with the stream's `grpc-encoding`.
 */
import { gunzipSync, gzipSync, inflateSync } from 'node:zlib';

export const FRAME_HEADER_BYTES = 5;

export interface GrpcFrame {
  isCompressed: boolean;
  data: Buffer;
}

export function encodeFrame(message: Buffer, isCompressed = false): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + message.length);
  out[0] = isCompressed ? 1 : 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, FRAME_HEADER_BYTES);
  return out;
}

export function encodeFrames(messages: readonly Buffer[]): Buffer {
  return Buffer.concat(messages.map((m) => encodeFrame(m)));
}

export class GrpcFramingError extends Error {
  readonly code = 'DOPPEL_GRPC_FRAMING';
}

/**
 * Splits a stream of DATA chunks into messages as they complete; a message
 * split across chunks waits for its rest. Messages over `maxMessageBytes`
 * are refused (grpc-js's default receive limit is 4 MiB).
 */
export class GrpcFrameDecoder {
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  readonly #maxMessageBytes: number;

  constructor(maxMessageBytes = 4 * 1024 * 1024) {
    this.#maxMessageBytes = maxMessageBytes;
  }

  /** bytes of an incomplete message held back */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  push(chunk: Buffer): GrpcFrame[] {
    if (chunk.length === 0) return [];
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    const out: GrpcFrame[] = [];
    while (this.#pendingBytes >= FRAME_HEADER_BYTES) {
      const head = this.#peek(FRAME_HEADER_BYTES);
      const flag = head[0] as number;
      if (flag > 1) throw new GrpcFramingError(`invalid gRPC compressed flag ${flag}`);
      const length = head.readUInt32BE(1);
      if (length > this.#maxMessageBytes) throw new GrpcFramingError(`gRPC message of ${length} bytes exceeds the ${this.#maxMessageBytes}-byte limit`);
      if (this.#pendingBytes < FRAME_HEADER_BYTES + length) break;
      const whole = this.#take(FRAME_HEADER_BYTES + length);
      out.push({ isCompressed: flag === 1, data: whole.subarray(FRAME_HEADER_BYTES) });
    }
    return out;
  }

  #peek(n: number): Buffer {
    const first = this.#pending[0] as Buffer;
    if (first.length >= n) return first;
    this.#pending = [Buffer.concat(this.#pending)];
    return this.#pending[0] as Buffer;
  }

  #take(n: number): Buffer {
    const all = this.#peek(n);
    const taken = all.subarray(0, n);
    const rest = all.subarray(n);
    this.#pending = rest.length > 0 ? [rest, ...this.#pending.slice(1)] : this.#pending.slice(1);
    this.#pendingBytes -= n;
    return taken;
  }
}

/** Every whole message of a buffered body; a cut-off tail is reported, not thrown. */
export function decodeFrames(body: Buffer, maxMessageBytes?: number): { frames: GrpcFrame[]; trailingBytes: number } {
  const d = new GrpcFrameDecoder(maxMessageBytes);
  const frames = d.push(body);
  return { frames, trailingBytes: d.pendingBytes };
}

/** The message bytes of a frame, decompressed with the stream's grpc-encoding. */
export function frameMessage(frame: GrpcFrame, encoding: string | undefined): Buffer {
  if (!frame.isCompressed) return frame.data;
  switch ((encoding ?? 'identity').toLowerCase()) {
    case 'gzip':
      return gunzipSync(frame.data);
    case 'deflate':
      return inflateSync(frame.data);
    case 'identity':
      // A compressed flag with identity encoding is a protocol error (PROTOCOL-HTTP2.md).
      throw new GrpcFramingError('gRPC message flagged compressed without a grpc-encoding');
    default:
      throw new GrpcFramingError(`gRPC message encoding ${encoding} is not supported`);
  }
}

export function compressMessage(message: Buffer): Buffer {
  return gzipSync(message);
}
