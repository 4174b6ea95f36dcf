import { describe, expect, it } from 'vitest';
import { endpointLabel, templatePath } from '../../../src/metrics/route-template.js';

describe('route templates for the endpoint label', () => {
  it.each([
    ['/orders/42', '/orders/:id'],
    ['/orders/42/items/7?x=1', '/orders/:id/items/:id'],
    ['/users/3f2504e0-4f89-11d3-9a0c-0305e82c3301', '/users/:id'],
    ['/blobs/a94a8fe5ccb19ba61c4c0873d391e987982fbbd3', '/blobs/:id'],
    ['/runs/01J9ZK3Q4W5E6R7T8Y9U0I1O2P', '/runs/:id'],
    ['/orders', '/orders'],
    ['/add/cafe', '/add/cafe'],
    ['/v2/orders', '/v2/orders'],
    ['/', '/'],
    ['', '/'],
  ])('%s -> %s', (raw, want) => {
    expect(templatePath(raw)).toBe(want);
  });

  it('folds any path as splitting it at every slash and templating each segment would', () => {
    // the definition, slow and plain: split, template each segment, join
    const reference = (raw: string): string => {
      const path = raw.split('?')[0] as string;
      if (path === '' || path === '/') return '/';
      return path
        .split('/')
        .map((part) => {
          if (part === '') return part;
          const seg = part.includes('%') ? safeDecode(part) : part;
          const isId = /^-?\d+(\.\d+)?$/.test(seg) || /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(seg) || /^[0-9a-f]{16,}$/i.test(seg) || /^(?=.*\d)(?=.*[a-z])[0-9a-z_-]{20,}$/i.test(seg);
          return isId ? ':id' : part;
        })
        .join('/');
    };
    const pieces = ['', 'orders', '42', '-7', '3.5', 'v2', 'a94a8fe5ccb19ba61c4c0873d391e987', '01J9ZK3Q4W5E6R7T8Y9U0I1O2P', '%34%32', '%E0%A4%A', 'x%2Fy', '3f2504e0-4f89-11d3-9a0c-0305e82c3301', 'cafe', 'abcdefghijklmnopq'];
    let seed = 7;
    const pick = <T>(xs: readonly T[]): T => xs[(seed = (seed * 1103515245 + 12345) % 2147483648) % xs.length] as T;
    for (let n = 0; n < 3000; n++) {
      const parts = Array.from({ length: 1 + (n % 5) }, () => pick(pieces));
      const raw = `${pick(['/', '', '//'])}${parts.join('/')}${pick(['', '/', '?q=1/2', '?'])}`;
      expect(templatePath(raw), raw).toBe(reference(raw));
    }
  });

  it('prefixes the method in upper case', () => {
    expect(endpointLabel('get', '/orders/9')).toBe('GET /orders/:id');
  });
});

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
