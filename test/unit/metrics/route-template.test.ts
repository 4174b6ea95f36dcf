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

  it('prefixes the method in upper case', () => {
    expect(endpointLabel('get', '/orders/9')).toBe('GET /orders/:id');
  });
});
