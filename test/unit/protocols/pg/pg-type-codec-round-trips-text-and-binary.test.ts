import { describe, expect, it } from 'vitest';
import { binaryToText, textToBinary, TypeOid } from '../../../../src/protocols/pg/type-codec.js';

const ctx = { timeZone: 'UTC' };

// Text as PostgreSQL prints it (DateStyle ISO, TimeZone UTC, bytea_output hex); binary
// as the server's *_send functions return it (checked with SELECT date_send(...) etc.).
const cases: Array<[keyof typeof TypeOid, string, string]> = [
  ['bool', 't', '01'],
  ['int2', '-7', 'fff9'],
  ['int4', '42', '0000002a'],
  ['int8', '9007199254740993', '0020000000000001'],
  ['float8', '0.5', '3fe0000000000000'],
  ['float4', '1.5', '3fc00000'],
  ['numeric', '12.50', '0002000000000002000c1388'],
  ['numeric', '-0.0001', '0001ffff40000004' + '0001'],
  ['text', 'héllo', Buffer.from('héllo').toString('hex')],
  ['bytea', '\\x0102ff', '0102ff'],
  ['uuid', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'a0eebc999c0b4ef8bb6d6bb9bd380a11'],
  ['date', '2024-02-29', '00002279'],
  ['timestamp', '2000-01-01 00:00:01.5', '000000000016e360'],
  ['timestamptz', '2024-01-02 03:04:05.678+00', '0002b0ec85204bb0'],
  ['jsonb', '{"a": 1}', '01' + Buffer.from('{"a": 1}').toString('hex')],
];

describe('type codec', () => {
  it.each(cases)('%s %s goes text -> binary -> text unchanged', (type, text, hex) => {
    const oid = TypeOid[type];
    const bin = textToBinary(oid, text, ctx);
    expect(bin?.toString('hex')).toBe(hex);
    expect(binaryToText(oid, bin as Buffer, ctx)).toBe(text);
  });

  it('prints timestamptz in the session time zone', () => {
    const bin = textToBinary(TypeOid.timestamptz, '2024-07-01 12:00:00+00', ctx) as Buffer;
    expect(binaryToText(TypeOid.timestamptz, bin, { timeZone: 'Europe/Paris' })).toBe('2024-07-01 14:00:00+02');
  });

  it('has no conversion for types it does not know', () => {
    expect(textToBinary(600 /* point */, '(1,2)', ctx)).toBeUndefined();
  });
});
