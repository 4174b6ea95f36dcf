/**
 * Serializes client -> server messages (PostgreSQL docs, "Message Formats")
 * for the mock's connections to a real server. Passthrough is the uncommon
 * path, so messages are built from small parts rather than a reused buffer.
 */
import { FrontendCode, PROTOCOL_MAJOR, PROTOCOL_MINOR } from './constants.js';
import type { DescribeTarget } from './frontend-decoder.js';

function cstring(s: string): Buffer {
  return Buffer.from(`${s}\0`, 'utf8');
}

function int16(v: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeInt16BE(v);
  return b;
}

function int32(v: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeInt32BE(v);
  return b;
}

function message(code: number, parts: readonly Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const head = Buffer.allocUnsafe(5);
  head[0] = code;
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

/** StartupMessage: protocol 3.0 and the parameters, without a type byte. */
export function startupMessage(parameters: Readonly<Record<string, string>>): Buffer {
  const parts: Buffer[] = [int16(PROTOCOL_MAJOR), int16(PROTOCOL_MINOR)];
  for (const [k, v] of Object.entries(parameters)) parts.push(cstring(k), cstring(v));
  parts.push(Buffer.from([0]));
  const body = Buffer.concat(parts);
  return Buffer.concat([int32(body.length + 4), body]);
}

/** PasswordMessage (cleartext or md5 response). */
export function passwordMessage(password: string): Buffer {
  return message(FrontendCode.Password, [cstring(password)]);
}

/** SASLInitialResponse: mechanism, then the client-first-message with its length. */
export function saslInitialResponse(mechanism: string, data: string): Buffer {
  const d = Buffer.from(data, 'utf8');
  return message(FrontendCode.Password, [cstring(mechanism), int32(d.length), d]);
}

/** SASLResponse: the client-final-message. */
export function saslResponse(data: string): Buffer {
  return message(FrontendCode.Password, [Buffer.from(data, 'utf8')]);
}

export function queryMessage(sql: string): Buffer {
  return message(FrontendCode.Query, [cstring(sql)]);
}

export function parseMessage(name: string, sql: string, paramTypes: readonly number[]): Buffer {
  const parts = [cstring(name), cstring(sql), int16(paramTypes.length)];
  for (const t of paramTypes) {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(t >>> 0);
    parts.push(b);
  }
  return message(FrontendCode.Parse, parts);
}

export function bindMessage(
  portal: string,
  statement: string,
  paramFormats: readonly number[],
  params: ReadonlyArray<Buffer | null>,
  resultFormats: readonly number[],
): Buffer {
  const parts = [cstring(portal), cstring(statement), int16(paramFormats.length)];
  for (const f of paramFormats) parts.push(int16(f));
  parts.push(int16(params.length));
  for (const p of params) {
    if (p === null) {
      parts.push(int32(-1));
    } else {
      parts.push(int32(p.length), p);
    }
  }
  parts.push(int16(resultFormats.length));
  for (const f of resultFormats) parts.push(int16(f));
  return message(FrontendCode.Bind, parts);
}

export function describeMessage(target: DescribeTarget, name: string): Buffer {
  return message(FrontendCode.Describe, [Buffer.from(target, 'latin1'), cstring(name)]);
}

export function executeMessage(portal: string, maxRows: number): Buffer {
  return message(FrontendCode.Execute, [cstring(portal), int32(maxRows)]);
}

export function syncMessage(): Buffer {
  return message(FrontendCode.Sync, []);
}

export function terminateMessage(): Buffer {
  return message(FrontendCode.Terminate, []);
}
