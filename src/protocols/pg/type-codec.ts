/**
 * Text <-> binary wire formats of common built-in types, so the mock can
 * answer in the format a client asks for when the recording holds the other
 * (PostgreSQL docs, "Formats and Format Codes"; binary layouts are the types'
 * send/recv functions in src/backend/utils/adt). A type not listed here
 * returns undefined and the caller reports a clear miss.
 */

export const TypeOid = {
  bool: 16,
  bytea: 17,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  oid: 26,
  json: 114,
  float4: 700,
  float8: 701,
  unknown: 705,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  timestamp: 1114,
  timestamptz: 1184,
  numeric: 1700,
  uuid: 2950,
  jsonb: 3802,
} as const;

export interface CodecContext {
  /** the session's TimeZone setting, for timestamptz text output */
  timeZone: string;
}

const PG_EPOCH_DAYS = 10957; // days from 1970-01-01 to 2000-01-01
const PG_EPOCH_US = BigInt(PG_EPOCH_DAYS) * 86_400_000_000n;
const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;
const DATE_INF = 0x7fffffff;
const DATE_NEG_INF = -0x80000000;

function isTextType(oid: number): boolean {
  return (
    oid === TypeOid.text ||
    oid === TypeOid.varchar ||
    oid === TypeOid.bpchar ||
    oid === TypeOid.name ||
    oid === TypeOid.json ||
    oid === TypeOid.unknown
  );
}

export function isConvertibleType(oid: number): boolean {
  return isTextType(oid) || CONVERTIBLE.has(oid);
}

const CONVERTIBLE = new Set<number>([
  TypeOid.bool,
  TypeOid.bytea,
  TypeOid.int2,
  TypeOid.int4,
  TypeOid.int8,
  TypeOid.oid,
  TypeOid.float4,
  TypeOid.float8,
  TypeOid.numeric,
  TypeOid.uuid,
  TypeOid.date,
  TypeOid.timestamp,
  TypeOid.timestamptz,
  TypeOid.jsonb,
]);

export function textToBinary(oid: number, text: string, ctx: CodecContext): Buffer | undefined {
  if (isTextType(oid)) return Buffer.from(text, 'utf8');
  switch (oid) {
    case TypeOid.bool:
      return Buffer.from([text === 't' || text === 'true' ? 1 : 0]);
    case TypeOid.int2: {
      const b = Buffer.allocUnsafe(2);
      b.writeInt16BE(Number(text));
      return b;
    }
    case TypeOid.int4: {
      const b = Buffer.allocUnsafe(4);
      b.writeInt32BE(Number(text));
      return b;
    }
    case TypeOid.oid: {
      const b = Buffer.allocUnsafe(4);
      b.writeUInt32BE(Number(text));
      return b;
    }
    case TypeOid.int8: {
      const b = Buffer.allocUnsafe(8);
      b.writeBigInt64BE(BigInt(text));
      return b;
    }
    case TypeOid.float4: {
      const b = Buffer.allocUnsafe(4);
      b.writeFloatBE(parseFloatText(text));
      return b;
    }
    case TypeOid.float8: {
      const b = Buffer.allocUnsafe(8);
      b.writeDoubleBE(parseFloatText(text));
      return b;
    }
    case TypeOid.numeric:
      return numericTextToBinary(text);
    case TypeOid.bytea:
      return byteaTextToBuffer(text);
    case TypeOid.uuid: {
      const hex = text.replace(/[{}-]/g, '');
      if (!/^[0-9a-fA-F]{32}$/.test(hex)) return undefined;
      return Buffer.from(hex, 'hex');
    }
    case TypeOid.jsonb:
      return Buffer.concat([Buffer.from([1]), Buffer.from(text, 'utf8')]);
    case TypeOid.date: {
      const days = dateTextToDays(text);
      if (days === undefined) return undefined;
      const b = Buffer.allocUnsafe(4);
      b.writeInt32BE(days);
      return b;
    }
    case TypeOid.timestamp:
    case TypeOid.timestamptz: {
      const us = timestampTextToMicros(text, oid === TypeOid.timestamptz);
      if (us === undefined) return undefined;
      const b = Buffer.allocUnsafe(8);
      b.writeBigInt64BE(us);
      return b;
    }
    default:
      void ctx;
      return undefined;
  }
}

export function binaryToText(oid: number, buf: Buffer, ctx: CodecContext): string | undefined {
  if (isTextType(oid)) return buf.toString('utf8');
  switch (oid) {
    case TypeOid.bool:
      return buf.length === 1 ? (buf[0] ? 't' : 'f') : undefined;
    case TypeOid.int2:
      return buf.length === 2 ? String(buf.readInt16BE(0)) : undefined;
    case TypeOid.int4:
      return buf.length === 4 ? String(buf.readInt32BE(0)) : undefined;
    case TypeOid.oid:
      return buf.length === 4 ? String(buf.readUInt32BE(0)) : undefined;
    case TypeOid.int8:
      return buf.length === 8 ? buf.readBigInt64BE(0).toString() : undefined;
    case TypeOid.float4:
      return buf.length === 4 ? formatFloat(buf.readFloatBE(0), true) : undefined;
    case TypeOid.float8:
      return buf.length === 8 ? formatFloat(buf.readDoubleBE(0), false) : undefined;
    case TypeOid.numeric:
      return numericBinaryToText(buf);
    case TypeOid.bytea:
      return '\\x' + buf.toString('hex');
    case TypeOid.uuid: {
      if (buf.length !== 16) return undefined;
      const h = buf.toString('hex');
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    }
    case TypeOid.jsonb:
      return buf.length >= 1 && buf[0] === 1 ? buf.toString('utf8', 1) : undefined;
    case TypeOid.date:
      return buf.length === 4 ? daysToDateText(buf.readInt32BE(0)) : undefined;
    case TypeOid.timestamp:
      return buf.length === 8 ? microsToTimestampText(buf.readBigInt64BE(0), undefined) : undefined;
    case TypeOid.timestamptz:
      return buf.length === 8 ? microsToTimestampText(buf.readBigInt64BE(0), ctx.timeZone) : undefined;
    default:
      return undefined;
  }
}

function parseFloatText(text: string): number {
  const t = text.trim().toLowerCase();
  if (t === 'nan') return Number.NaN;
  if (t === 'infinity' || t === '+infinity' || t === 'inf') return Number.POSITIVE_INFINITY;
  if (t === '-infinity' || t === '-inf') return Number.NEGATIVE_INFINITY;
  return Number(t);
}

/** Shortest text that reads back to the same value, as float4out/float8out print it since PostgreSQL 12. */
function formatFloat(v: number, isSingle: boolean): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return 'Infinity';
  if (v === Number.NEGATIVE_INFINITY) return '-Infinity';
  let s = String(v);
  if (isSingle) {
    for (let p = 1; p <= 9; p++) {
      const c = v.toPrecision(p);
      if (Math.fround(Number(c)) === v) {
        s = String(Number(c));
        break;
      }
    }
  }
  // PostgreSQL switches to exponent form past 15 (float8) / 6 (float4) integer digits.
  const exp = v === 0 ? 0 : Math.floor(Math.log10(Math.abs(v)));
  if (exp >= (isSingle ? 6 : 15) || exp < -4) {
    const digits = s.replace(/^-/, '').replace(/e.*$/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
    const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = exp < 0 ? `-${String(-exp).padStart(2, '0')}` : `+${String(exp).padStart(2, '0')}`;
    return `${v < 0 ? '-' : ''}${mant}e${e}`;
  }
  return s;
}

const NUMERIC_POS = 0x0000;
const NUMERIC_NEG = 0x4000;
const NUMERIC_NAN = 0xc000;
const NUMERIC_PINF = 0xd000;
const NUMERIC_NINF = 0xf000;

/** numeric_send layout: ndigits, weight, sign, dscale, then base-10000 digits. */
function numericTextToBinary(text: string): Buffer | undefined {
  const t = text.trim();
  const head = (sign: number, dscale = 0) => {
    const b = Buffer.alloc(8);
    b.writeUInt16BE(sign, 4);
    b.writeUInt16BE(dscale, 6);
    return b;
  };
  if (/^nan$/i.test(t)) return head(NUMERIC_NAN);
  if (/^\+?infinity$/i.test(t)) return head(NUMERIC_PINF);
  if (/^-infinity$/i.test(t)) return head(NUMERIC_NINF);
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(t);
  if (!m) return undefined;
  let intPart = m[2] ?? '';
  let frac = m[3] ?? '';
  const e = Number(m[4] ?? '0');
  if (e > 0) {
    frac = frac.padEnd(e, '0');
    intPart += frac.slice(0, e);
    frac = frac.slice(e);
  } else if (e < 0) {
    intPart = intPart.padStart(-e, '0');
    frac = intPart.slice(intPart.length + e) + frac;
    intPart = intPart.slice(0, intPart.length + e);
  }
  const dscale = frac.length;
  intPart = intPart.replace(/^0+/, '');
  const intPad = intPart.padStart(Math.ceil(intPart.length / 4) * 4, '0');
  const fracPad = frac.padEnd(Math.ceil(frac.length / 4) * 4, '0');
  let digits: number[] = [];
  for (let i = 0; i < intPad.length; i += 4) digits.push(Number(intPad.slice(i, i + 4)));
  let weight = digits.length - 1;
  for (let i = 0; i < fracPad.length; i += 4) digits.push(Number(fracPad.slice(i, i + 4)));
  while (digits.length > 0 && digits[0] === 0) {
    digits.shift();
    weight--;
  }
  while (digits.length > 0 && digits[digits.length - 1] === 0) digits.pop();
  if (digits.length === 0) weight = 0;
  digits = digits.slice(0, 1000);
  const b = Buffer.alloc(8 + digits.length * 2);
  b.writeUInt16BE(digits.length, 0);
  b.writeInt16BE(weight, 2);
  b.writeUInt16BE(m[1] === '-' && digits.length > 0 ? NUMERIC_NEG : NUMERIC_POS, 4);
  b.writeUInt16BE(dscale, 6);
  digits.forEach((d, i) => b.writeUInt16BE(d, 8 + i * 2));
  return b;
}

function numericBinaryToText(b: Buffer): string | undefined {
  if (b.length < 8) return undefined;
  const ndigits = b.readUInt16BE(0);
  const weight = b.readInt16BE(2);
  const sign = b.readUInt16BE(4);
  const dscale = b.readUInt16BE(6);
  if (sign === NUMERIC_NAN) return 'NaN';
  if (sign === NUMERIC_PINF) return 'Infinity';
  if (sign === NUMERIC_NINF) return '-Infinity';
  if (b.length < 8 + ndigits * 2) return undefined;
  const digit = (i: number) => (i >= 0 && i < ndigits ? b.readUInt16BE(8 + i * 2) : 0);
  let intStr = '';
  for (let i = 0; i <= weight; i++) intStr += i === 0 ? String(digit(i)) : String(digit(i)).padStart(4, '0');
  if (intStr === '') intStr = '0';
  let frac = '';
  for (let i = weight + 1; frac.length < dscale; i++) frac += String(digit(i)).padStart(4, '0');
  frac = frac.slice(0, dscale);
  const s = dscale > 0 ? `${intStr}.${frac}` : intStr;
  return sign === NUMERIC_NEG ? `-${s}` : s;
}

function byteaTextToBuffer(text: string): Buffer {
  if (text.startsWith('\\x')) return Buffer.from(text.slice(2), 'hex');
  // "escape" format: backslash-octal and doubled backslashes.
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c && text[i + 1] === '\\') {
      out.push(0x5c);
      i++;
    } else if (c === 0x5c && /^[0-7]{3}$/.test(text.slice(i + 1, i + 4))) {
      out.push(parseInt(text.slice(i + 1, i + 4), 8));
      i += 3;
    } else {
      out.push(...Buffer.from(text[i] ?? '', 'utf8'));
    }
  }
  return Buffer.from(out);
}

function civilFromDays(z0: number): [number, number, number] {
  // Howard Hinnant's days_from_civil inverse; days since 1970-01-01.
  const z = z0 + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const y = yoe + era * 400;
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [m <= 2 ? y + 1 : y, m, d];
}

function daysFromCivil(y0: number, m: number, d: number): number {
  const y = m <= 2 ? y0 - 1 : y0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function ymdText(y: number, m: number, d: number): string {
  // ISO DateStyle: years before 1 AD print as positive years with " BC".
  const bc = y <= 0;
  const yy = bc ? 1 - y : y;
  return `${String(yy).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}${bc ? ' BC' : ''}`;
}

function daysToDateText(pgDays: number): string {
  if (pgDays === DATE_INF) return 'infinity';
  if (pgDays === DATE_NEG_INF) return '-infinity';
  const [y, m, d] = civilFromDays(pgDays + PG_EPOCH_DAYS);
  return ymdText(y, m, d);
}

function dateTextToDays(text: string): number | undefined {
  const t = text.trim();
  if (t === 'infinity') return DATE_INF;
  if (t === '-infinity') return DATE_NEG_INF;
  const m = /^(\d{4,})-(\d{2})-(\d{2})( BC)?$/.exec(t);
  if (!m) return undefined;
  const y = m[4] ? 1 - Number(m[1]) : Number(m[1]);
  return daysFromCivil(y, Number(m[2]), Number(m[3])) - PG_EPOCH_DAYS;
}

function offsetMinutes(timeZone: string, epochMs: number): number {
  if (/^(utc|etc\/utc|gmt|etc\/gmt|z|utc0|zulu|universal)$/i.test(timeZone)) return 0;
  try {
    const parts = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' }).formatToParts(new Date(epochMs));
    const name = parts.find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
    const m = /GMT([+-])(\d{2}):?(\d{2})?/.exec(name);
    if (!m) return 0;
    return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3] ?? 0));
  } catch {
    return 0;
  }
}

function microsToTimestampText(us: bigint, timeZone: string | undefined): string {
  if (us === INT64_MAX) return 'infinity';
  if (us === INT64_MIN) return '-infinity';
  let unixUs = us + PG_EPOCH_US;
  let off = 0;
  if (timeZone !== undefined) {
    off = offsetMinutes(timeZone, Number(unixUs / 1000n));
    unixUs += BigInt(off) * 60_000_000n;
  }
  const dayUs = 86_400_000_000n;
  let days = unixUs / dayUs;
  let rem = unixUs % dayUs;
  if (rem < 0n) {
    rem += dayUs;
    days -= 1n;
  }
  const [y, mo, d] = civilFromDays(Number(days));
  const totalSec = Number(rem / 1_000_000n);
  const frac = Number(rem % 1_000_000n);
  const hh = Math.floor(totalSec / 3600);
  const mm = Math.floor((totalSec % 3600) / 60);
  const ss = totalSec % 60;
  let s = `${String(hh).padStart(2, '0')}:${String(mm).padStart(2, '0')}:${String(ss).padStart(2, '0')}`;
  if (frac > 0) s += '.' + String(frac).padStart(6, '0').replace(/0+$/, '');
  let date = ymdText(y, mo, d);
  const bc = date.endsWith(' BC');
  if (bc) date = date.slice(0, -3);
  let out = `${date} ${s}`;
  if (timeZone !== undefined) {
    const sign = off < 0 ? '-' : '+';
    const a = Math.abs(off);
    out += `${sign}${String(Math.floor(a / 60)).padStart(2, '0')}${a % 60 ? ':' + String(a % 60).padStart(2, '0') : ''}`;
  }
  return bc ? `${out} BC` : out;
}

function timestampTextToMicros(text: string, hasZone: boolean): bigint | undefined {
  const t = text.trim();
  if (t === 'infinity') return INT64_MAX;
  if (t === '-infinity') return INT64_MIN;
  const m = /^(\d{4,})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?:([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?)?( BC)?$/.exec(t);
  if (!m) return undefined;
  const y = m[12] ? 1 - Number(m[1]) : Number(m[1]);
  const days = BigInt(daysFromCivil(y, Number(m[2]), Number(m[3])));
  let us = days * 86_400_000_000n + BigInt(Number(m[4]) * 3600 + Number(m[5]) * 60 + Number(m[6])) * 1_000_000n;
  us += BigInt((m[7] ?? '').padEnd(6, '0') || '0');
  if (hasZone && m[8] !== undefined) {
    const offSec = (Number(m[9]) * 3600 + Number(m[10] ?? 0) * 60 + Number(m[11] ?? 0)) * (m[8] === '-' ? -1 : 1);
    us -= BigInt(offSec) * 1_000_000n;
  }
  return us - PG_EPOCH_US;
}
