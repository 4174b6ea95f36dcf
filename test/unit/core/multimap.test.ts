import { describe, expect, it } from 'vitest';
import { appendTo, removeFrom } from '../../../src/core/multimap.js';

describe('map of lists', () => {
  it('creates a list on the first value, keeps order, and drops the key with its last value', () => {
    const m = new Map<string, object[]>();
    const a = {};
    const b = {};
    appendTo(m, 't1', a);
    appendTo(m, 't1', b);
    expect(m.get('t1')).toEqual([a, b]);
    removeFrom(m, 't1', b);
    expect(m.get('t1')).toEqual([a]);
    removeFrom(m, 't1', {});
    expect(m.get('t1')).toEqual([a]);
    removeFrom(m, 't1', a);
    expect(m.has('t1')).toBe(false);
    removeFrom(m, 'absent', a);
    expect(m.size).toBe(0);
  });
});
