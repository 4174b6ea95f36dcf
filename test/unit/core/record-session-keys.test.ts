import { describe, expect, it } from 'vitest';
import { createSessionKeyer, parseSessionKey } from '../../../src/core/sessions.js';

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
  it('scopes connection sessions by recorder, so two recorders sharing a store never merge theirs', () => {
    const a = createSessionKeyer(parseSessionKey('connection'), ph, [], 'rec-a');
    const b = createSessionKeyer(parseSessionKey('connection'), ph, [], 'rec-b');
    expect(a({ ...base, rawHeaders: [] })).toBe('rec-a/c-1');
    expect(b({ ...base, rawHeaders: [] })).toBe('rec-b/c-1');
  });
  it('keeps header, cookie and claim sessions global across recorders', () => {
    const raw = ['x-session-id', 's-42', 'Cookie', 'sid=xyz', 'Authorization', `Bearer ${jwt({ sub: 'user-7' })}`];
    for (const spec of ['header:x-session-id', 'cookie:sid', 'jwt:sub']) {
      const a = createSessionKeyer(parseSessionKey(spec), ph, [], 'rec-a')({ ...base, rawHeaders: raw });
      const b = createSessionKeyer(parseSessionKey(spec), ph, [], 'rec-b')({ ...base, connectionId: 'c-9', rawHeaders: raw });
      expect(a).toBe(b);
      expect(a).not.toContain('rec-');
    }
  });
  it('rejects an unknown kind', () => {
    expect(() => parseSessionKey('query:x')).toThrow(/sessions.key/);
  });
});
