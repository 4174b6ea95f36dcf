/**
 * Value classes: values that differ on every run by design (ids, clocks,
 * tokens). Compare and mock matching treat two values of the same class as
 * equal in shape, so such noise needs no ignore rule.
 */

export const VALUE_CLASSES = ['uuid', 'ulid', 'timestamp', 'http-date', 'epoch-millis', 'hex-token', 'jwt'] as const;
export type ValueClass = (typeof VALUE_CLASSES)[number];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ULID = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;
// ISO 8601 / RFC 3339 date-time with optional fraction and zone; a bare date is not a clock value.
const ISO_TS = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/;
// RFC 9110 §5.6.7 IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT"
const HTTP_DATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;
const HEX_TOKEN = /^[0-9a-f]{24,}$/i;
const JWT = /^eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

// 2001-09-09 .. 2286-11-20 in milliseconds: 13-digit epoch values.
const EPOCH_MS_MIN = 1_000_000_000_000;
const EPOCH_MS_MAX = 9_999_999_999_999;

/** The class a value belongs to, or undefined for ordinary values. */
export function classifyValue(value: unknown): ValueClass | undefined {
  if (typeof value === 'number') {
    return Number.isInteger(value) && value >= EPOCH_MS_MIN && value <= EPOCH_MS_MAX ? 'epoch-millis' : undefined;
  }
  if (typeof value !== 'string') return undefined;
  const len = value.length;
  if (len < 13 || len > 4096) return undefined;
  const c0 = value.charCodeAt(0);
  if (len === 36 && UUID.test(value)) return 'uuid';
  if (len === 26 && ULID.test(value)) return 'ulid';
  if (c0 >= 48 && c0 <= 57) {
    if (ISO_TS.test(value)) return 'timestamp';
    if (len === 13 && /^\d{13}$/.test(value)) return 'epoch-millis';
  }
  if (len === 29 && HTTP_DATE.test(value)) return 'http-date';
  if (c0 === 101 /* e */ && JWT.test(value)) return 'jwt';
  if (HEX_TOKEN.test(value)) return 'hex-token';
  return undefined;
}

/** Equal values, or two values of the same class. */
export function isSameShape(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  const ca = classifyValue(a);
  return ca !== undefined && ca === classifyValue(b);
}
