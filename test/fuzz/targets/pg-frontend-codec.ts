/**
 * Client -> server messages: how the test writes them (canonical form of
 * what the decoder reads) and the checks that hold for any byte stream.
 */
import { expect } from 'vitest';
import fc from 'fast-check';
import { CANCEL_REQUEST_CODE, FrontendCode, GSSENC_REQUEST_CODE, SSL_REQUEST_CODE } from '../../../src/protocols/pg/constants.js';
import { FrontendDecoder, type FrontendEvent, type FrontendMessage } from '../../../src/protocols/pg/frontend-decoder.js';
import type { FuzzTarget } from '../fuzz-run.js';

const MAX_MESSAGE_BYTES = 64 * 1024;

const cstr = (s: string) => Buffer.from(`${s}\0`, 'utf8');
const u16 = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
};
const i16 = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(v);
  return b;
};
const i32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v);
  return b;
};
const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
};

function typed(code: number, parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([code]), i32(body.length + 4), body]);
}

function untyped(parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([i32(body.length + 4), body]);
}

/** The bytes a message is read from; undefined for a message the decoder does not keep the body of. */
export function encodeFrontend(m: FrontendMessage): Buffer | undefined {
  switch (m.type) {
    case 'sslRequest':
      return untyped([i32(SSL_REQUEST_CODE)]);
    case 'gssEncRequest':
      return untyped([i32(GSSENC_REQUEST_CODE)]);
    case 'cancelRequest':
      return untyped([i32(CANCEL_REQUEST_CODE), i32(m.processId), m.secretKey]);
    case 'startup': {
      const pairs = Object.entries(m.parameters).flatMap(([k, v]) => [cstr(k), cstr(v)]);
      return untyped([u16(m.major), u16(m.minor), ...pairs, Buffer.from([0])]);
    }
    case 'query':
      return typed(FrontendCode.Query, [cstr(m.sql)]);
    case 'parse':
      return typed(FrontendCode.Parse, [cstr(m.name), cstr(m.sql), u16(m.paramTypes.length), ...m.paramTypes.map(u32)]);
    case 'bind':
      return typed(FrontendCode.Bind, [
        cstr(m.portal),
        cstr(m.statement),
        u16(m.paramFormats.length),
        ...m.paramFormats.map(i16),
        u16(m.params.length),
        ...m.params.flatMap((p) => (p === null ? [i32(-1)] : [i32(p.length), p])),
        u16(m.resultFormats.length),
        ...m.resultFormats.map(i16),
      ]);
    case 'describe':
      return typed(FrontendCode.Describe, [Buffer.from(m.target), cstr(m.name)]);
    case 'close':
      return typed(FrontendCode.Close, [Buffer.from(m.target), cstr(m.name)]);
    case 'execute':
      return typed(FrontendCode.Execute, [cstr(m.portal), i32(m.maxRows)]);
    case 'sync':
      return typed(FrontendCode.Sync, []);
    case 'flush':
      return typed(FrontendCode.Flush, []);
    case 'terminate':
      return typed(FrontendCode.Terminate, []);
    case 'password':
      return typed(FrontendCode.Password, [m.data]);
    case 'copyData':
      return typed(FrontendCode.CopyData, [m.data]);
    case 'copyDone':
      return typed(FrontendCode.CopyDone, []);
    case 'copyFail':
      return typed(FrontendCode.CopyFail, [cstr(m.message)]);
    case 'functionCall':
      return undefined;
    default: {
      const never: never = m;
      return never;
    }
  }
}

/** Every event of a stream fed in the given chunks, draining after each chunk as a socket handler does. */
export function decodeFrontend(chunks: readonly Buffer[]): { events: FrontendEvent[]; pending: number } {
  const d = new FrontendDecoder({ maxMessageBytes: MAX_MESSAGE_BYTES });
  const events: FrontendEvent[] = [];
  for (const c of chunks) {
    d.push(c);
    for (let e = d.next(); e !== undefined; e = d.next()) events.push(e);
  }
  return { events, pending: d.pendingBytes };
}

function oneByteChunks(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i++) out.push(buf.subarray(i, i + 1));
  return out;
}

/**
 * The parameters of a startup packet read independently of the decoder: pairs
 * in order, a repeated name keeping its last value as the server does.
 */
function startupParametersOf(raw: Buffer): Record<string, string> {
  const fields = raw.subarray(8, raw.length - 1).toString('utf8').split('\0');
  const out = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) out.set(fields[i] as string, fields[i + 1] as string);
  return Object.fromEntries(out);
}

/** The bytes a read message stands for: a startup packet is its raw bytes, whose parameters must be what was read. */
function writtenBack(e: FrontendMessage): Buffer | undefined {
  if (e.type !== 'startup') return encodeFrontend(e);
  expect({ ...e.parameters }).toEqual(startupParametersOf(e.raw));
  // Rewriting from the parameter object cannot restore the order of names
  // that read as array indexes, nor a repeated name; the check above covers
  // what was read, and the raw bytes must be exactly what was sent.
  return e.raw;
}

/**
 * For any bytes: decoding never throws; one chunk and any split give the same
 * events; a decode error is the last event; every message read writes back to
 * exactly the bytes it was read from (nothing skipped, nothing trailing).
 */
export function checkFrontendStream(input: Buffer, chunks: readonly Buffer[] = oneByteChunks(input)): void {
  const whole = decodeFrontend([input]);
  const split = decodeFrontend(chunks);
  expect(split.events).toEqual(whole.events);
  const errAt = whole.events.findIndex((e) => e.type === 'decodeError');
  expect(errAt === -1 || errAt === whole.events.length - 1).toBe(true);
  const written: Buffer[] = [];
  for (const e of whole.events) {
    if (e.type === 'decodeError') break;
    const bytes = writtenBack(e);
    if (bytes === undefined) return;
    written.push(bytes);
  }
  // A string that was not UTF-8 reads as U+FFFD and cannot write back byte for byte.
  if (JSON.stringify(whole.events).includes('\ufffd')) return;
  const out = Buffer.concat(written);
  expect(out.toString('hex')).toBe(input.subarray(0, out.length).toString('hex'));
  if (errAt === -1) expect(whole.pending).toBe(input.length - out.length);
}

export const pgFrontendTarget: FuzzTarget = {
  name: 'pg-frontend',
  ext: 'bin',
  check: (input) => checkFrontendStream(input),
};

const text = fc.string({ maxLength: 24 }).map((s) => s.replaceAll('\0', ''));
const bytes = fc.uint8Array({ maxLength: 24 }).map((a) => Buffer.from(a));
const formats = fc.array(fc.integer({ min: 0, max: 1 }), { maxLength: 4 });

/** Messages after the startup packet, as a client sends them. */
export const frontendMessageArb: fc.Arbitrary<FrontendMessage> = fc.oneof(
  text.map((sql) => ({ type: 'query' as const, sql })),
  fc.record({ type: fc.constant('parse' as const), name: text, sql: text, paramTypes: fc.array(fc.nat({ max: 0xffff_ffff }), { maxLength: 4 }) }),
  fc.record({
    type: fc.constant('bind' as const),
    portal: text,
    statement: text,
    paramFormats: formats,
    params: fc.array(fc.option(bytes, { nil: null }), { maxLength: 4 }),
    resultFormats: formats,
  }),
  fc.record({ type: fc.constantFrom('describe' as const, 'close' as const), target: fc.constantFrom('S' as const, 'P' as const), name: text }),
  fc.record({ type: fc.constant('execute' as const), portal: text, maxRows: fc.integer({ min: 0, max: 0x7fff_ffff }) }),
  fc.constantFrom<FrontendMessage>({ type: 'sync' }, { type: 'flush' }, { type: 'terminate' }, { type: 'copyDone' }),
  fc.record({ type: fc.constantFrom('password' as const, 'copyData' as const), data: bytes }),
  text.map((message) => ({ type: 'copyFail' as const, message })),
);

export const startupArb = fc
  .dictionary(text.filter((k) => k !== ''), text, { maxKeys: 4 })
  .map((parameters) => {
    const pairs = Object.entries(parameters).flatMap(([k, v]) => [cstr(k), cstr(v)]);
    return untyped([i16(3), i16(0), ...pairs, Buffer.from([0])]);
  });

/** A valid stream, then perhaps damaged: bytes flipped, cut, or noise appended. */
export const frontendStreamArb = fc
  .record({
    startup: startupArb,
    messages: fc.array(frontendMessageArb, { maxLength: 8 }),
    flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
    cut: fc.option(fc.nat()),
    noise: bytes,
  })
  .map(({ startup, messages, flips, cut, noise }) => {
    const buf = Buffer.concat([startup, ...messages.map((m) => encodeFrontend(m) as Buffer), noise]);
    for (const [at, v] of flips) if (buf.length > 0) buf[at % buf.length] = v;
    return cut === null ? buf : buf.subarray(0, cut % (buf.length + 1));
  });
