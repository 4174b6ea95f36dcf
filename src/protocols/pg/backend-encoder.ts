/**
 * Serializes server -> client messages (PostgreSQL docs, "Message Formats")
 * into one growing buffer, so a whole batch of replies goes to the socket in
 * a single write. `take()` hands the bytes over and starts a new batch.
 */
import type { PgErrorFields, PgField, TxStatus } from '../../core/exchange.js';
import { AuthCode, BackendCode, ERROR_FIELD_NAMES } from './constants.js';

export class BackendWriter {
  #buf: Buffer;
  #pos = 0;
  #msgStart = -1;

  constructor(initialBytes = 16 * 1024) {
    this.#buf = Buffer.allocUnsafe(initialBytes);
  }

  get length(): number {
    return this.#pos;
  }

  #ensure(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.#buf.copy(next, 0, 0, this.#pos);
    this.#buf = next;
  }

  /** Returns the bytes written since the last take (a copy the caller may keep). */
  take(): Buffer {
    const out = Buffer.from(this.#buf.subarray(0, this.#pos));
    this.#pos = 0;
    return out;
  }

  raw(b: Buffer | string): this {
    const buf = typeof b === 'string' ? Buffer.from(b, 'latin1') : b;
    this.#ensure(buf.length);
    buf.copy(this.#buf, this.#pos);
    this.#pos += buf.length;
    return this;
  }

  #begin(code: number): void {
    this.#ensure(5);
    this.#buf[this.#pos] = code;
    this.#msgStart = this.#pos + 1;
    this.#pos += 5;
  }

  #end(): void {
    this.#buf.writeInt32BE(this.#pos - this.#msgStart, this.#msgStart);
  }

  #int16(v: number): void {
    this.#ensure(2);
    this.#buf.writeInt16BE(v, this.#pos);
    this.#pos += 2;
  }

  #int32(v: number): void {
    this.#ensure(4);
    this.#buf.writeInt32BE(v, this.#pos);
    this.#pos += 4;
  }

  #uint32(v: number): void {
    this.#ensure(4);
    this.#buf.writeUInt32BE(v >>> 0, this.#pos);
    this.#pos += 4;
  }

  #cstring(s: string): void {
    const n = Buffer.byteLength(s);
    this.#ensure(n + 1);
    this.#buf.write(s, this.#pos, 'utf8');
    this.#pos += n;
    this.#buf[this.#pos++] = 0;
  }

  #bytes(b: Buffer): void {
    this.#ensure(b.length);
    b.copy(this.#buf, this.#pos);
    this.#pos += b.length;
  }

  authentication(code: number, extra?: Buffer): this {
    this.#begin(BackendCode.Authentication);
    this.#int32(code);
    if (extra) this.#bytes(extra);
    this.#end();
    return this;
  }

  authenticationOk(): this {
    return this.authentication(AuthCode.Ok);
  }

  parameterStatus(name: string, value: string): this {
    this.#begin(BackendCode.ParameterStatus);
    this.#cstring(name);
    this.#cstring(value);
    this.#end();
    return this;
  }

  backendKeyData(processId: number, secretKey: number): this {
    this.#begin(BackendCode.BackendKeyData);
    this.#int32(processId);
    this.#int32(secretKey);
    this.#end();
    return this;
  }

  /** NegotiateProtocolVersion: newest minor version supported and the options not recognized. */
  negotiateProtocolVersion(minor: number, unrecognized: readonly string[]): this {
    this.#begin(BackendCode.NegotiateProtocolVersion);
    this.#int32(minor);
    this.#int32(unrecognized.length);
    for (const o of unrecognized) this.#cstring(o);
    this.#end();
    return this;
  }

  readyForQuery(status: TxStatus): this {
    this.#begin(BackendCode.ReadyForQuery);
    this.#ensure(1);
    this.#buf[this.#pos++] = status.charCodeAt(0);
    this.#end();
    return this;
  }

  #empty(code: number): this {
    this.#ensure(5);
    this.#buf[this.#pos] = code;
    this.#buf.writeInt32BE(4, this.#pos + 1);
    this.#pos += 5;
    return this;
  }

  parseComplete(): this {
    return this.#empty(BackendCode.ParseComplete);
  }
  bindComplete(): this {
    return this.#empty(BackendCode.BindComplete);
  }
  closeComplete(): this {
    return this.#empty(BackendCode.CloseComplete);
  }
  noData(): this {
    return this.#empty(BackendCode.NoData);
  }
  portalSuspended(): this {
    return this.#empty(BackendCode.PortalSuspended);
  }
  emptyQueryResponse(): this {
    return this.#empty(BackendCode.EmptyQueryResponse);
  }

  parameterDescription(types: readonly number[]): this {
    this.#begin(BackendCode.ParameterDescription);
    this.#int16(types.length);
    for (const t of types) this.#uint32(t);
    this.#end();
    return this;
  }

  rowDescription(fields: readonly PgField[], formatOf: (i: number) => number): this {
    this.#begin(BackendCode.RowDescription);
    this.#int16(fields.length);
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i] as PgField;
      this.#cstring(f.name);
      this.#uint32(f.tableOid);
      this.#int16(f.column);
      this.#uint32(f.typeOid);
      this.#int16(f.typeSize);
      this.#int32(f.typeMod);
      this.#int16(formatOf(i));
    }
    this.#end();
    return this;
  }

  dataRow(cells: ReadonlyArray<Buffer | string | null>): this {
    this.#begin(BackendCode.DataRow);
    this.#int16(cells.length);
    for (const c of cells) {
      if (c === null) {
        this.#int32(-1);
      } else if (typeof c === 'string') {
        const n = Buffer.byteLength(c);
        this.#int32(n);
        this.#ensure(n);
        this.#buf.write(c, this.#pos, 'utf8');
        this.#pos += n;
      } else {
        this.#int32(c.length);
        this.#bytes(c);
      }
    }
    this.#end();
    return this;
  }

  commandComplete(tag: string): this {
    this.#begin(BackendCode.CommandComplete);
    this.#cstring(tag);
    this.#end();
    return this;
  }

  #fields(code: number, f: PgErrorFields): this {
    this.#begin(code);
    for (const [letter, name] of ERROR_FIELD_NAMES) {
      let v = f[name];
      // The non-localized severity (V, since 9.6) equals S in an English server.
      if (letter === 'V' && v === undefined) v = f.severity;
      if (v === undefined) continue;
      this.#ensure(1);
      this.#buf[this.#pos++] = letter.charCodeAt(0);
      this.#cstring(v);
    }
    this.#ensure(1);
    this.#buf[this.#pos++] = 0;
    this.#end();
    return this;
  }

  errorResponse(f: PgErrorFields): this {
    return this.#fields(BackendCode.ErrorResponse, f);
  }

  noticeResponse(f: PgErrorFields): this {
    return this.#fields(BackendCode.NoticeResponse, f);
  }
}
