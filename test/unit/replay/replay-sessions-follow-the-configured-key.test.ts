import { describe, expect, it } from 'vitest';
import { replaySessionKeyer } from '../../../src/replay/run-replay.js';
import type { HttpExchange } from '../../../src/core/exchange.js';

function exchange(id: string, session: string, headers: Array<[string, string]>): HttpExchange {
  return {
    v: 1,
    id,
    session,
    parent: null,
    direction: 'inbound',
    service: 'orders',
    startedAt: '2026-11-26T10:00:00.000Z',
    durationMs: 1,
    tags: {},
    protocol: 'http',
    http: { request: { method: 'GET', url: '/orders/1', headers, body: null }, response: { status: 200, headers: [], body: null } },
  } as unknown as HttpExchange;
}

describe('replay sessions by the configured sessions.key', () => {
  it('groups exchanges recorded one per session by the header the key names', () => {
    const of = replaySessionKeyer('header:X-Session-Id');
    expect(of).toBeDefined();
    const a = exchange('01A', '01A', [['x-session-id', 's-01']]);
    const b = exchange('01B', '01B', [['X-Session-Id', 's-01']]);
    const c = exchange('01C', '01C', [['x-session-id', 's-02']]);
    const none = exchange('01D', '01D', [['accept', '*/*']]);
    expect([a, b, c, none].map((e) => of?.(e))).toEqual(['s-01', 's-01', 's-02', '01D']);
  });

  it('keeps a session recorded with a key, and changes nothing for the exchange and connection keys', () => {
    const of = replaySessionKeyer('header:x-session-id');
    expect(of?.(exchange('01A', 'recorded-7', [['x-session-id', 's-01']]))).toBe('recorded-7');
    expect(replaySessionKeyer('exchange')).toBeUndefined();
    expect(replaySessionKeyer('connection')).toBeUndefined();
    expect(replaySessionKeyer(undefined)).toBeUndefined();
  });

  it('groups by a JWT claim of the recorded Authorization header', () => {
    const token = (sub: string) => `Bearer e30.${Buffer.from(JSON.stringify({ sub })).toString('base64url')}.sig`;
    const of = replaySessionKeyer('jwt:sub');
    expect(of?.(exchange('01A', '01A', [['authorization', token('ada')]]))).toBe(of?.(exchange('01B', '01B', [['Authorization', token('ada')]])));
    expect(of?.(exchange('01A', '01A', [['authorization', token('ada')]]))).not.toBe(of?.(exchange('01C', '01C', [['authorization', token('grace')]])));
  });
});
