import { describe, expect, it } from 'vitest';
import { createSessionKeyer, parseSessionKey } from '../../src/core/sessions.js';

const ph = (v: string) => `ph(${v})`;
const jwt = (payload: object) => `eyJhbGciOiJub25lIn0.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.sig`;

describe('session keys', () => {
  const base = { connectionId: 'c-1', exchangeId: 'ex-1' };
  it('defaults to one session per exchange', () => {
    expect(createSessionKeyer(parseSessionKey('exchange'), ph)({ ...base, rawHeaders: [] })).toBe('ex-1');
  });
  it('reads a header, case-insensitively', () => {
    const k = createSessionKeyer(parseSessionKey('header:X-Session-Id'), ph);
    expect(k({ ...base, rawHeaders: ['x-session-id', 's-42'] })).toBe('s-42');
    expect(k({ ...base, rawHeaders: [] })).toBe('ex-1');
  });
  it('hides cookie values behind the placeholder', () => {
    const k = createSessionKeyer(parseSessionKey('cookie:sid'), ph);
    expect(k({ ...base, rawHeaders: ['Cookie', 'a=1; sid=xyz'] })).toBe('ph(xyz)');
  });
  it('reads a JWT claim from the bearer token before redaction', () => {
    const k = createSessionKeyer(parseSessionKey('jwt:sub'), ph);
    expect(k({ ...base, rawHeaders: ['Authorization', `Bearer ${jwt({ sub: 'user-7' })}`] })).toBe('user-7');
    expect(k({ ...base, rawHeaders: ['Authorization', 'Bearer not-a-jwt'] })).toBe('ex-1');
  });
  it('uses the connection', () => {
    expect(createSessionKeyer(parseSessionKey('connection'), ph)({ ...base, rawHeaders: [] })).toBe('c-1');
  });
  it('rejects an unknown kind', () => {
    expect(() => parseSessionKey('query:x')).toThrow(/sessions.key/);
  });
});
