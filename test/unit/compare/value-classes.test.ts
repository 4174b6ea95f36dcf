import { describe, expect, it } from 'vitest';
import { classifyValue, isSameShape } from '../../../src/compare/value-classes.js';

describe('value classes', () => {
  it.each([
    ['3f2504e0-4f89-11d3-9a0c-0305e82c3301', 'uuid'],
    ['01ARZ3NDEKTSV4RRFFQ69G5FAV', 'ulid'],
    ['2026-11-26T13:00:00.123Z', 'timestamp'],
    ['2026-11-26 13:00:00+01:00', 'timestamp'],
    ['Sun, 06 Nov 1994 08:49:37 GMT', 'http-date'],
    [1764162000123, 'epoch-millis'],
    ['a94a8fe5ccb19ba61c4c0873d391e987982fbbd3', 'hex-token'],
    ['eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl', 'jwt'],
  ])('%s is a %s', (value, cls) => {
    expect(classifyValue(value)).toBe(cls);
  });

  it.each([['hello world, long text'], [42], ['2026-11-26'], [true], [null], ['deadbeef']])('%s is an ordinary value', (value) => {
    expect(classifyValue(value)).toBeUndefined();
  });

  it('treats two values of one class as the same shape, different classes not', () => {
    expect(isSameShape('3f2504e0-4f89-11d3-9a0c-0305e82c3301', 'c56a4180-65aa-42ec-a945-5fd21dec0538')).toBe(true);
    expect(isSameShape('2026-11-26T13:00:00Z', '3f2504e0-4f89-11d3-9a0c-0305e82c3301')).toBe(false);
    expect(isSameShape('a', 'b')).toBe(false);
  });
});
