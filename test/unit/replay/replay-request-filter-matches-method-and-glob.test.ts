import { describe, expect, it } from 'vitest';
import { createRequestFilter } from '../../../src/replay/request-filter.js';

describe('include/exclude filters', () => {
  it('matches method and path glob, ignoring the query', () => {
    const f = createRequestFilter(['GET /orders/*', '* /health/**'], ['GET /orders/internal']);
    expect(f.accepts('GET', '/orders/42?x=1')).toBe(true);
    expect(f.accepts('get', '/orders/42')).toBe(true);
    expect(f.accepts('POST', '/orders/42')).toBe(false);
    expect(f.accepts('GET', '/orders/42/items')).toBe(false);
    expect(f.accepts('DELETE', '/health/a/b')).toBe(true);
    expect(f.accepts('GET', '/orders/internal')).toBe(false);
  });

  it('rejects a filter without a path naming the key', () => {
    expect(() => createRequestFilter([], ['GET orders'])).toThrow(/replay\.exclude\[0\]/);
  });
});
