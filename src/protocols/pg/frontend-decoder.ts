/**
 * Streaming decoder for client -> server messages (PostgreSQL docs, "Message
 * Formats"). pg-protocol only parses server messages, so this side is ours.
 * Chunks may split a message anywhere or carry many messages; the decoder
 * keeps one pending buffer and copies only when a message straddles chunks.
 */
import {
  CANCEL_REQUEST_CODE,
  FrontendCode,
  GSSENC_REQUEST_CODE,
  MAX_STARTUP_PACKET_BYTES,
  SSL_REQUEST_CODE,
} from './constants.js';

export type DescribeTarget = 'S' | 'P';

export type FrontendMessage =
  | { type: 'sslRequest' }
  | { type: 'gssEncRequest' }
  | { type: 'cancelRequest'; processId: number; secretKey: Buffer }
  | { type: 'startup'; major: number; minor: number; parameters: Record<string, string>; raw: Buffer }
  | { type: 'query'; sql: string }
  | { type: 'parse'; name: string; sql: string; paramTypes: number[] }
  | {
      type: 'bind';
      portal: string;
      statement: string;
      paramFormats: number[];
      params: Array<Buffer | null>;
      resultFormats: number[];
    }
  | { type: 'describe'; target: DescribeTarget; name: string }
  | { type: 'execute'; portal: string; maxRows: number }
  | { type: 'close'; target: DescribeTarget; name: string }
  | { type: 'sync' }
  | { type: 'flush' }
  | { type: 'terminate' }
  | { type: 'password'; data: Buffer }
  | { type: 'copyData'; data: Buffer }
  | { type: 'copyDone' }
  | { type: 'copyFail'; message: string }
  | { type: 'functionCall' };

/**
 * Why a byte stream cannot be read further. Each reason maps to what the
 * real server does about it (see the mock's bad-input handling).
 */
export type FrontendDecodeErrorKind =
  | 'startupLength' // startup packet length < 8 or > 10000: server closes silently
  | 'messageLength' // typed message length < 4: server closes silently
  | 'messageTooLong' // over the configured cap
  | 'unknownType' // unknown message type byte: FATAL 08P01 then close
  | 'malformed'; // a message body that does not parse: 08P01

export interface FrontendDecodeError {
  type: 'decodeError';
  kind: FrontendDecodeErrorKind;
  message: string;
  /** the message type byte, for unknownType */
  code?: number;
}

export type FrontendEvent = FrontendMessage | FrontendDecodeError;

export interface FrontendDecoderOptions {
  maxMessageBytes: number;
  /**
   * false: Bind parameters, passwords and CopyData are views into the received
   * chunk, valid only until the caller returns (the record relay converts them
   * at once, and its copies showed in its profiles). Default true: copies.
   */
  copiesValues?: boolean;
}

const EMPTY = Buffer.alloc(0);

/** Reads fields out of one message body. Throws MalformedMessage on overrun. */
class BodyReader {
  buf: Buffer = EMPTY;
  pos = 0;
  end = 0;
  readonly copiesValues: boolean;

  constructor(copiesValues: boolean) {
    this.copiesValues = copiesValues;
  }

  reset(buf: Buffer, start: number, end: number): void {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }

  #need(n: number): void {
    // pqformat.c pq_getmsgbytes: a negative length is "insufficient data left in message" too.
    if (n < 0 || this.pos + n > this.end) throw new MalformedMessage('message is shorter than its fields');
  }

  /** A count of the fields that follow: pqformat.c reads it unsigned, so 0xFFFF is 65535 fields, never -1. */
  count16(): number {
    this.#need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  int16(): number {
    this.#need(2);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  int32(): number {
    this.#need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  uint32(): number {
    this.#need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  byte(): number {
    this.#need(1);
    return this.buf[this.pos++] as number;
  }

  cstring(): string {
    const nul = this.buf.indexOf(0, this.pos);
    if (nul === -1 || nul >= this.end) throw new MalformedMessage('string is not terminated');
    const s = this.buf.toString('utf8', this.pos, nul);
    this.pos = nul + 1;
    return s;
  }

  bytes(n: number): Buffer {
    this.#need(n);
    // A copy unless asked not to: the mock keeps values beyond the chunk they arrived in.
    const view = this.buf.subarray(this.pos, this.pos + n);
    const b = this.copiesValues ? Buffer.from(view) : view;
    this.pos += n;
    return b;
  }

  rest(): Buffer {
    return this.bytes(this.end - this.pos);
  }
}

class MalformedMessage extends Error {}

export class FrontendDecoder {
  readonly #maxMessageBytes: number;
  #buf: Buffer = EMPTY;
  #off = 0;
  #isStartupPhase = true;
  #isFailed = false;
  readonly #reader: BodyReader;

  constructor(opts: FrontendDecoderOptions) {
    this.#maxMessageBytes = opts.maxMessageBytes;
    this.#reader = new BodyReader(opts.copiesValues ?? true);
  }

  /** true until a StartupMessage has been read (SSL/GSS requests keep it true). */
  get isStartupPhase(): boolean {
    return this.#isStartupPhase;
  }

  /** bytes received but not yet forming a whole message */
  get pendingBytes(): number {
    return this.#buf.length - this.#off;
  }

  push(chunk: Buffer): void {
    if (this.#isFailed) return;
    if (this.#off >= this.#buf.length) {
      this.#buf = chunk;
      this.#off = 0;
    } else {
      this.#buf = Buffer.concat([this.#buf.subarray(this.#off), chunk]);
      this.#off = 0;
    }
  }

  /**
   * The next whole message, a decode error (after which the decoder stops),
   * or undefined when more bytes are needed.
   */
  next(): FrontendEvent | undefined {
    if (this.#isFailed) return undefined;
    const ev = this.#isStartupPhase ? this.#nextStartup() : this.#nextTyped();
    if (ev?.type === 'decodeError') this.#isFailed = true;
    return ev;
  }

  #nextStartup(): FrontendEvent | undefined {
    const buf = this.#buf;
    const off = this.#off;
    if (buf.length - off < 4) return undefined;
    const len = buf.readInt32BE(off);
    // postmaster.c ProcessStartupPacket: checked before the body is read, on the length less its own 4 bytes.
    if (len < 8 || len - 4 > MAX_STARTUP_PACKET_BYTES) {
      return { type: 'decodeError', kind: 'startupLength', message: `invalid length of startup packet (${len})` };
    }
    if (buf.length - off < len) return undefined;
    const code = buf.readInt32BE(off + 4);
    const start = off + 8;
    const end = off + len;
    this.#off = end;
    if (code === SSL_REQUEST_CODE) return { type: 'sslRequest' };
    if (code === GSSENC_REQUEST_CODE) return { type: 'gssEncRequest' };
    if (code === CANCEL_REQUEST_CODE) {
      if (len < 16) return { type: 'decodeError', kind: 'malformed', message: 'invalid length of cancel request' };
      return {
        type: 'cancelRequest',
        processId: buf.readInt32BE(start),
        secretKey: Buffer.from(buf.subarray(start + 4, end)),
      };
    }
    const major = code >>> 16;
    const minor = code & 0xffff;
    // No prototype: a parameter named __proto__ or constructor is a parameter
    // like any other (the server rejects it as an unknown setting, the record keeps it).
    const parameters = Object.create(null) as Record<string, string>;
    const r = this.#reader;
    r.reset(buf, start, end);
    const layoutError: FrontendDecodeError = {
      type: 'decodeError',
      kind: 'malformed',
      message: 'invalid startup packet layout: expected terminator as last byte',
    };
    try {
      // A sequence of name/value pairs ended by an empty name, which must be
      // the packet's last byte (postmaster.c ProcessStartupPacket). A name sent
      // twice takes its last value, as the server applies them in order.
      for (;;) {
        const name = r.cstring();
        if (name === '') break;
        parameters[name] = r.cstring();
      }
    } catch {
      return layoutError;
    }
    if (r.pos !== r.end) return layoutError;
    this.#isStartupPhase = false;
    return { type: 'startup', major, minor, parameters, raw: Buffer.from(buf.subarray(off, end)) };
  }

  #nextTyped(): FrontendEvent | undefined {
    const buf = this.#buf;
    const off = this.#off;
    if (buf.length - off < 1) return undefined;
    const code = buf[off] as number;
    if (!isKnownFrontendCode(code)) {
      // postgres.c SocketBackend rejects the type byte before reading a length.
      return { type: 'decodeError', kind: 'unknownType', code, message: `invalid frontend message type ${code}` };
    }
    if (buf.length - off < 5) return undefined;
    const len = buf.readInt32BE(off + 1);
    if (len < 4) return { type: 'decodeError', kind: 'messageLength', message: `invalid message length ${len}` };
    if (len > this.#maxMessageBytes) {
      return {
        type: 'decodeError',
        kind: 'messageTooLong',
        message: `message of ${len} bytes is over the limit of ${this.#maxMessageBytes} bytes`,
      };
    }
    if (buf.length - off < len + 1) return undefined;
    const start = off + 5;
    const end = off + 1 + len;
    this.#off = end;
    if (this.#off >= buf.length) {
      this.#buf = EMPTY;
      this.#off = 0;
    }
    const r = this.#reader;
    r.reset(buf, start, end);
    try {
      const msg = this.#decodeBody(code);
      // postgres.c reads every message through pq_getmsgend: bytes left over
      // after the last field are "invalid message format" (08P01), not ignored.
      if (r.pos !== r.end && msg.type !== 'functionCall') throw new MalformedMessage(`${r.end - r.pos} bytes after the last field`);
      return msg;
    } catch (err) {
      if (err instanceof MalformedMessage) {
        return { type: 'decodeError', kind: 'malformed', code, message: `invalid message format: ${err.message}` };
      }
      throw err;
    }
  }

  #decodeBody(code: number): FrontendMessage {
    const r = this.#reader;
    switch (code) {
      case FrontendCode.Query:
        return { type: 'query', sql: r.cstring() };
      case FrontendCode.Parse: {
        const name = r.cstring();
        const sql = r.cstring();
        const n = r.count16();
        const paramTypes = new Array<number>(n);
        for (let i = 0; i < n; i++) paramTypes[i] = r.uint32();
        return { type: 'parse', name, sql, paramTypes };
      }
      case FrontendCode.Bind: {
        const portal = r.cstring();
        const statement = r.cstring();
        const nf = r.count16();
        const paramFormats = new Array<number>(nf);
        for (let i = 0; i < nf; i++) paramFormats[i] = r.int16();
        const np = r.count16();
        const params = new Array<Buffer | null>(np);
        for (let i = 0; i < np; i++) {
          const l = r.int32();
          params[i] = l === -1 ? null : r.bytes(l);
        }
        const nr = r.count16();
        const resultFormats = new Array<number>(nr);
        for (let i = 0; i < nr; i++) resultFormats[i] = r.int16();
        return { type: 'bind', portal, statement, paramFormats, params, resultFormats };
      }
      case FrontendCode.Describe:
      case FrontendCode.Close: {
        const t = r.byte();
        if (t !== 0x53 && t !== 0x50) throw new MalformedMessage(`invalid ${code === FrontendCode.Close ? 'CLOSE' : 'DESCRIBE'} message subtype ${t}`);
        const target: DescribeTarget = t === 0x53 ? 'S' : 'P';
        const name = r.cstring();
        return code === FrontendCode.Describe ? { type: 'describe', target, name } : { type: 'close', target, name };
      }
      case FrontendCode.Execute:
        return { type: 'execute', portal: r.cstring(), maxRows: r.int32() };
      case FrontendCode.Sync:
        return { type: 'sync' };
      case FrontendCode.Flush:
        return { type: 'flush' };
      case FrontendCode.Terminate:
        return { type: 'terminate' };
      case FrontendCode.Password:
        return { type: 'password', data: r.rest() };
      case FrontendCode.CopyData:
        return { type: 'copyData', data: r.rest() };
      case FrontendCode.CopyDone:
        return { type: 'copyDone' };
      case FrontendCode.CopyFail:
        return { type: 'copyFail', message: r.cstring() };
      case FrontendCode.FunctionCall:
        return { type: 'functionCall' };
      default:
        throw new MalformedMessage(`unexpected message type ${code}`);
    }
  }
}

const KNOWN_CODES = new Set<number>(Object.values(FrontendCode));

export function isKnownFrontendCode(code: number): boolean {
  return KNOWN_CODES.has(code);
}
