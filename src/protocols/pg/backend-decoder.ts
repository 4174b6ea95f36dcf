/**
 * Streaming decoder for server -> client messages. Framing (type byte +
 * int32 length, PostgreSQL docs "Message Formats") is done here; each whole
 * frame is handed to pg-protocol's parser for its fields, except DataRow,
 * whose cells are kept as raw bytes: pg-protocol decodes every cell as UTF-8
 * text, which would corrupt binary-format columns.
 *
 * This file is the only place that deep-imports pg-protocol's parser.
 */
import { Parser } from 'pg-protocol/dist/parser.js';
import type { BackendMessage, DatabaseError, Field, NoticeMessage } from 'pg-protocol/dist/messages.js';
import { DoppelError } from '../../core/errors.js';
import { PeerFailureError } from '../../core/peer-failure.js';
import type { PgErrorFields, PgField, TxStatus } from '../../core/exchange.js';
import { AuthCode, BackendCode, ERROR_FIELD_NAMES } from './constants.js';

export type BackendEvent =
  | { type: 'dataRow'; cells: Array<Buffer | null> }
  | { type: 'rowDescription'; fields: PgField[] }
  | { type: 'parameterDescription'; types: number[] }
  | { type: 'commandComplete'; tag: string }
  | { type: 'emptyQuery' }
  | { type: 'parseComplete' }
  | { type: 'bindComplete' }
  | { type: 'closeComplete' }
  | { type: 'noData' }
  | { type: 'portalSuspended' }
  | { type: 'readyForQuery'; status: TxStatus }
  | { type: 'error'; fields: PgErrorFields }
  | { type: 'notice'; fields: PgErrorFields }
  | { type: 'parameterStatus'; name: string; value: string }
  | { type: 'backendKeyData'; processId: number; secretKey: number }
  /** `data`: the md5 salt, or the SASLContinue/SASLFinal payload */
  | { type: 'authentication'; code: number; mechanisms: string[]; data?: string | Buffer }
  | { type: 'copyResponse' }
  | { type: 'copyData' }
  | { type: 'copyDone' }
  | { type: 'other'; code: number };

const EMPTY = Buffer.alloc(0);

/** A server message that cannot be read: the server (or what stands in for it) broke the protocol. */
function malformed(message: string, cause?: unknown): DoppelError {
  return new PeerFailureError('malformed', `malformed server message: ${message}`, cause === undefined ? {} : { cause });
}

const FIELD_NAME_OF = new Map(ERROR_FIELD_NAMES.map(([letter, name]) => [letter.charCodeAt(0), name]));

/**
 * ErrorResponse / NoticeResponse body: (type byte, string) pairs ended by a
 * zero byte. Read here, not by pg-protocol, whose reader loops forever on a
 * body that ends without that zero byte.
 */
function readErrorFields(buf: Buffer, start: number, end: number): PgErrorFields {
  const out: PgErrorFields = { code: '', message: '' };
  let p = start;
  for (;;) {
    if (p >= end) throw malformed('error fields are not terminated');
    const letter = buf[p] as number;
    if (letter === 0) break;
    const nul = buf.indexOf(0, p + 1);
    if (nul === -1 || nul >= end) throw malformed('error field is not terminated');
    const name = FIELD_NAME_OF.get(letter);
    // Unknown field types are ignored, as the protocol asks of clients.
    if (name !== undefined && name !== 'severityNonLocalized') out[name] = buf.toString('utf8', p + 1, nul);
    p = nul + 1;
  }
  return out;
}

function errorFields(m: DatabaseError | NoticeMessage): PgErrorFields {
  const out: PgErrorFields = { code: m.code ?? '', message: m.message ?? '' };
  const keys = [
    'severity',
    'detail',
    'hint',
    'position',
    'internalPosition',
    'internalQuery',
    'where',
    'schema',
    'table',
    'column',
    'dataType',
    'constraint',
    'file',
    'line',
    'routine',
  ] as const;
  for (const k of keys) {
    const v = m[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

function toField(f: Field): PgField {
  return {
    name: f.name,
    tableOid: f.tableID,
    column: f.columnID,
    typeOid: f.dataTypeID,
    typeSize: f.dataTypeSize,
    typeMod: f.dataTypeModifier,
    format: f.format === 'binary' ? 1 : 0,
  };
}

export class BackendDecoder {
  readonly #maxMessageBytes: number;
  #buf: Buffer = EMPTY;
  #off = 0;
  readonly #parser = new Parser();
  #last: BackendMessage | undefined;

  constructor(opts: { maxMessageBytes?: number } = {}) {
    this.#maxMessageBytes = opts.maxMessageBytes ?? Number.MAX_SAFE_INTEGER;
  }

  push(chunk: Buffer): void {
    if (this.#off >= this.#buf.length) {
      this.#buf = chunk;
      this.#off = 0;
    } else {
      this.#buf = Buffer.concat([this.#buf.subarray(this.#off), chunk]);
      this.#off = 0;
    }
  }

  /** bytes of a message not yet whole: a server that closes with some left closed mid-message */
  get pendingBytes(): number {
    return this.#buf.length - this.#off;
  }

  /**
   * The next whole message, or undefined when more bytes are needed. Throws
   * a DoppelError (DOPPEL_UPSTREAM_UNAVAILABLE) on a frame it cannot read.
   */
  next(): BackendEvent | undefined {
    const buf = this.#buf;
    const off = this.#off;
    if (buf.length - off < 5) return undefined;
    const code = buf[off] as number;
    const len = buf.readInt32BE(off + 1);
    if (len < 4) throw malformed(`invalid length ${len}`);
    if (len > this.#maxMessageBytes) throw new PeerFailureError('too_large', `server message of ${len} bytes is over the limit of ${this.#maxMessageBytes}`);
    if (buf.length - off < len + 1) return undefined;
    const end = off + 1 + len;
    this.#off = end;
    try {
      return this.#read(buf, off, code, len, end);
    } catch (err) {
      if (err instanceof DoppelError) throw err;
      // pg-protocol reads past a short frame with Buffer methods, which throw RangeError.
      throw malformed(`message ${code} does not fit its length ${len}`, err);
    }
  }

  #read(buf: Buffer, off: number, code: number, len: number, end: number): BackendEvent {
    // The messages of every statement are read here without pg-protocol: its
    // Parser buffers, allocates a message object per frame and converts every
    // DataRow cell to a string, which dominated the record relay's CPU.
    switch (code) {
      case BackendCode.DataRow:
        return { type: 'dataRow', cells: readDataRow(buf, off + 5, end) };
      case BackendCode.ParseComplete:
        return PARSE_COMPLETE;
      case BackendCode.BindComplete:
        return BIND_COMPLETE;
      case BackendCode.CloseComplete:
        return CLOSE_COMPLETE;
      case BackendCode.NoData:
        return NO_DATA;
      case BackendCode.PortalSuspended:
        return PORTAL_SUSPENDED;
      case BackendCode.EmptyQueryResponse:
        return EMPTY_QUERY;
      case BackendCode.ReadyForQuery:
        if (len !== 5) throw malformed(`invalid ReadyForQuery length ${len}`);
        return readyEvent(buf[off + 5] as number);
      case BackendCode.CommandComplete:
        return { type: 'commandComplete', tag: readCString(buf, off + 5, end) };
      case BackendCode.RowDescription:
        return { type: 'rowDescription', fields: readRowDescription(buf, off + 5, end) };
      case BackendCode.ErrorResponse:
        return { type: 'error', fields: readErrorFields(buf, off + 5, end) };
      case BackendCode.NoticeResponse:
        return { type: 'notice', fields: readErrorFields(buf, off + 5, end) };
      default:
        break;
    }
    if (code === BackendCode.NegotiateProtocolVersion || code === BackendCode.CopyBothResponse || code === BackendCode.FunctionCallResponse) {
      return { type: 'other', code };
    }
    this.#last = undefined;
    this.#parser.parse(buf.subarray(off, end), (m) => {
      this.#last = m;
    });
    const m = this.#last as BackendMessage | undefined;
    if (m === undefined) throw malformed(`message ${code} was not parsed`);
    return convert(m, code);
  }
}

const PARSE_COMPLETE: BackendEvent = Object.freeze({ type: 'parseComplete' });
const BIND_COMPLETE: BackendEvent = Object.freeze({ type: 'bindComplete' });
const CLOSE_COMPLETE: BackendEvent = Object.freeze({ type: 'closeComplete' });
const NO_DATA: BackendEvent = Object.freeze({ type: 'noData' });
const PORTAL_SUSPENDED: BackendEvent = Object.freeze({ type: 'portalSuspended' });
const EMPTY_QUERY: BackendEvent = Object.freeze({ type: 'emptyQuery' });
const READY_I: BackendEvent = Object.freeze({ type: 'readyForQuery', status: 'I' });
const READY_T: BackendEvent = Object.freeze({ type: 'readyForQuery', status: 'T' });
const READY_E: BackendEvent = Object.freeze({ type: 'readyForQuery', status: 'E' });

function readyEvent(status: number): BackendEvent {
  switch (status) {
    case 0x49:
      return READY_I;
    case 0x54:
      return READY_T;
    case 0x45:
      return READY_E;
    default:
      throw malformed(`invalid ReadyForQuery status ${status}`);
  }
}

function readCString(buf: Buffer, start: number, end: number): string {
  const nul = buf.indexOf(0, start);
  if (nul === -1 || nul >= end) throw malformed('string is not terminated');
  return buf.toString('utf8', start, nul);
}

/** RowDescription: int16 count, then per field name, table OID, column, type OID, size, modifier, format. */
function readRowDescription(buf: Buffer, start: number, end: number): PgField[] {
  if (start + 2 > end) throw malformed('RowDescription without a field count');
  const n = buf.readUInt16BE(start);
  const fields = new Array<PgField>(n);
  let p = start + 2;
  for (let i = 0; i < n; i++) {
    const nul = buf.indexOf(0, p);
    if (nul === -1 || nul + 19 > end) throw malformed('RowDescription field runs past its message');
    const name = buf.toString('utf8', p, nul);
    p = nul + 1;
    fields[i] = {
      name,
      tableOid: buf.readUInt32BE(p),
      column: buf.readInt16BE(p + 4),
      typeOid: buf.readUInt32BE(p + 6),
      typeSize: buf.readInt16BE(p + 10),
      typeMod: buf.readInt32BE(p + 12),
      format: buf.readInt16BE(p + 16),
    };
    p += 18;
  }
  return fields;
}

/**
 * DataRow cells are views into the received bytes, not copies: whoever keeps
 * one beyond the current turn copies it (the record session converts each
 * cell to its recorded value at once).
 */
function readDataRow(buf: Buffer, start: number, end: number): Array<Buffer | null> {
  if (start + 2 > end) throw malformed('DataRow without a column count');
  const n = buf.readUInt16BE(start);
  const cells = new Array<Buffer | null>(n);
  let p = start + 2;
  for (let i = 0; i < n; i++) {
    // Bounds are the frame's, not the buffer's: the next message may follow in it.
    if (p + 4 > end) throw malformed('DataRow cell runs past its message');
    const l = buf.readInt32BE(p);
    p += 4;
    if (l === -1) {
      cells[i] = null;
    } else {
      if (l < 0 || p + l > end) throw malformed('DataRow cell runs past its message');
      cells[i] = buf.subarray(p, p + l);
      p += l;
    }
  }
  return cells;
}

function convert(m: BackendMessage, code: number): BackendEvent {
  const any = m as unknown as Record<string, unknown>;
  switch (m.name) {
    case 'rowDescription':
      return { type: 'rowDescription', fields: (any.fields as Field[]).map(toField) };
    case 'parameterDescription':
      return { type: 'parameterDescription', types: [...(any.dataTypeIDs as number[])] };
    case 'commandComplete':
      return { type: 'commandComplete', tag: any.text as string };
    case 'emptyQuery':
      return { type: 'emptyQuery' };
    case 'parseComplete':
      return { type: 'parseComplete' };
    case 'bindComplete':
      return { type: 'bindComplete' };
    case 'closeComplete':
      return { type: 'closeComplete' };
    case 'noData':
      return { type: 'noData' };
    case 'portalSuspended':
      return { type: 'portalSuspended' };
    case 'readyForQuery':
      return { type: 'readyForQuery', status: any.status as TxStatus };
    case 'error':
      // pg-protocol answers an unknown type byte with a DatabaseError of its own.
      if (code !== BackendCode.ErrorResponse) return { type: 'other', code };
      return { type: 'error', fields: errorFields(m as unknown as DatabaseError) };
    case 'notice':
      return { type: 'notice', fields: errorFields(m as unknown as NoticeMessage) };
    case 'parameterStatus':
      return { type: 'parameterStatus', name: any.parameterName as string, value: any.parameterValue as string };
    case 'backendKeyData':
      return { type: 'backendKeyData', processId: any.processID as number, secretKey: any.secretKey as number };
    case 'authenticationOk':
      return { type: 'authentication', code: AuthCode.Ok, mechanisms: [] };
    case 'authenticationCleartextPassword':
      return { type: 'authentication', code: AuthCode.CleartextPassword, mechanisms: [] };
    case 'authenticationMD5Password':
      return { type: 'authentication', code: AuthCode.MD5Password, mechanisms: [], data: any.salt as Buffer };
    case 'authenticationSASL':
      return { type: 'authentication', code: AuthCode.SASL, mechanisms: (any.mechanisms as string[] | undefined) ?? [] };
    case 'authenticationSASLContinue':
      return { type: 'authentication', code: AuthCode.SASLContinue, mechanisms: [], data: any.data as string };
    case 'authenticationSASLFinal':
      return { type: 'authentication', code: AuthCode.SASLFinal, mechanisms: [], data: any.data as string };
    case 'copyInResponse':
    case 'copyOutResponse':
      return { type: 'copyResponse' };
    case 'copyData':
      return { type: 'copyData' };
    case 'copyDone':
      return { type: 'copyDone' };
    case 'replicationStart':
    case 'notification':
    case 'dataRow':
      return { type: 'other', code };
    default: {
      const never: never = m.name;
      return { type: 'other', code: Number(never) || code };
    }
  }
}
