import { describe, expect, it } from 'vitest';
import { createRecordFilter } from '../../../src/capture/record-filter.js';

describe('record filter', () => {
  it('excludes health probes by default', () => {
    const f = createRecordFilter({ sample: 1, excludeHealth: true });
    expect(f('GET', '/healthz')).toBe('filtered');
    expect(f('GET', '/readyz?x=1')).toBe('filtered');
    expect(f('GET', '/orders')).toBe('record');
    expect(createRecordFilter({ sample: 1, excludeHealth: false })('GET', '/healthz')).toBe('record');
  });
  it('applies include and exclude by method and path', () => {
    const f = createRecordFilter({ sample: 1, excludeHealth: true, include: ['GET /orders/*', '/pay'], exclude: ['GET /orders/secret'] });
    expect(f('GET', '/orders/1')).toBe('record');
    expect(f('POST', '/orders/1')).toBe('filtered');
    expect(f('POST', '/pay')).toBe('record');
    expect(f('GET', '/orders/secret')).toBe('filtered');
    expect(f('GET', '/other')).toBe('filtered');
  });
  it('samples with the given rate', () => {
    let i = 0;
    const seq = [0.1, 0.6, 0.2, 0.9];
    const f = createRecordFilter({ sample: 0.5, excludeHealth: true, random: () => seq[i++ % seq.length] as number });
    expect([f('GET', '/a'), f('GET', '/a'), f('GET', '/a'), f('GET', '/a')]).toEqual(['record', 'sampled_out', 'record', 'sampled_out']);
  });
});
