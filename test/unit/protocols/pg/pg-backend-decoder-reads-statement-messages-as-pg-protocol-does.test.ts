import { Parser } from 'pg-protocol/dist/parser.js';
import type { BackendMessage } from 'pg-protocol/dist/messages.js';
import { describe, expect, it } from 'vitest';
import type { PgField } from '../../../../src/core/exchange.js';
import { BackendDecoder, type BackendEvent } from '../../../../src/protocols/pg/backend-decoder.js';
import { BackendWriter } from '../../../../src/protocols/pg/backend-encoder.js';

const fields: PgField[] = [
  { name: 'aid', tableOid: 16_400, column: 1, typeOid: 23, typeSize: 4, typeMod: -1, format: 0 },
  { name: 'größe', tableOid: 4_000_000_000, column: 2, typeOid: 1700, typeSize: -1, typeMod: 655_366, format: 1 },
];

function decodeAll(bytes: Buffer, chunk: number): BackendEvent[] {
  const d = new BackendDecoder();
  const out: BackendEvent[] = [];
  for (let i = 0; i < bytes.length; i += chunk) {
    d.push(bytes.subarray(i, i + chunk));
    for (let m = d.next(); m !== undefined; m = d.next()) out.push(m);
  }
  return out;
}

function pgProtocol(bytes: Buffer): BackendMessage[] {
  const out: BackendMessage[] = [];
  new Parser().parse(bytes, (m) => out.push(m));
  return out;
}

describe('backend decoder, statement messages', () => {
  const bytes = new BackendWriter()
    .parseComplete()
    .bindComplete()
    .rowDescription(fields, (i) => fields[i]!.format)
    .dataRow(['1', Buffer.from([0, 1, 2]), null])
    .commandComplete('SELECT 1')
    .emptyQueryResponse()
    .noData()
    .portalSuspended()
    .closeComplete()
    .readyForQuery('T')
    .readyForQuery('E')
    .readyForQuery('I')
    .take();

  it('reads each message, whole or split byte by byte, as pg-protocol reads it', () => {
    const whole = decodeAll(bytes, bytes.length);
    expect(decodeAll(bytes, 1)).toEqual(whole);
    const ref = pgProtocol(bytes);
    expect(whole.map((m) => m.type)).toEqual(ref.map((m) => m.name));
    const rd = ref[2] as unknown as { fields: Array<{ name: string; tableID: number; columnID: number; dataTypeID: number; dataTypeSize: number; dataTypeModifier: number; format: string }> };
    expect(whole[2]).toEqual({
      type: 'rowDescription',
      fields: rd.fields.map((f) => ({
        name: f.name,
        tableOid: f.tableID,
        column: f.columnID,
        typeOid: f.dataTypeID,
        typeSize: f.dataTypeSize,
        typeMod: f.dataTypeModifier,
        format: f.format === 'binary' ? 1 : 0,
      })),
    });
    expect(whole[2]).toEqual({ type: 'rowDescription', fields });
    expect(whole[3]).toEqual({ type: 'dataRow', cells: [Buffer.from('1'), Buffer.from([0, 1, 2]), null] });
    expect(whole[4]).toEqual({ type: 'commandComplete', tag: 'SELECT 1' });
    expect(whole.slice(9).map((m) => (m.type === 'readyForQuery' ? m.status : m.type))).toEqual(['T', 'E', 'I']);
  });

  it('throws on a ReadyForQuery with an unknown status and on a RowDescription running past its message', () => {
    const badReady = Buffer.from([0x5a, 0, 0, 0, 5, 0x58]);
    const d1 = new BackendDecoder();
    d1.push(badReady);
    expect(() => d1.next()).toThrow(/ReadyForQuery status/);
    const rd = new BackendWriter().rowDescription(fields, () => 0).take();
    // Claim one more field than the message holds.
    rd.writeInt16BE(3, 5);
    const d2 = new BackendDecoder();
    d2.push(rd);
    expect(() => d2.next()).toThrow(/RowDescription/);
  });
});
