import { describe, expect, it } from 'vitest';
import { compilePath, checkPath, formatPath, pathMatches, selectValues } from '../../../src/core/json-path.js';

describe('the path grammar', () => {
  const m = (pattern: string, path: Array<string | number>) => pathMatches(compilePath(pattern), path);

  it('matches plain keys, indexes and wildcards', () => {
    expect(m('$.a.b', ['a', 'b'])).toBe(true);
    expect(m('$.a.b', ['a', 'c'])).toBe(false);
    expect(m('$.items[0].id', ['items', 0, 'id'])).toBe(true);
    expect(m('$.items[*].createdAt', ['items', 7, 'createdAt'])).toBe(true);
    expect(m('$.items[*].createdAt', ['items', 7, 'updatedAt'])).toBe(false);
    expect(m("$['a b'].c", ['a b', 'c'])).toBe(true);
    expect(m('$.*', ['x'])).toBe(true);
  });

  it('matches recursive descent at any depth', () => {
    expect(m('$..id', ['id'])).toBe(true);
    expect(m('$..id', ['a', 3, 'b', 'id'])).toBe(true);
    expect(m('$..id', ['a', 'idx'])).toBe(false);
    expect(m('$.a..id', ['b', 'id'])).toBe(false);
  });

  it('compiles header rules separately', () => {
    expect(compilePath('header:Date')).toEqual({ kind: 'header', source: 'header:Date', name: 'date' });
  });

  it('explains invalid paths', () => {
    expect(checkPath('a.b')).toMatch(/expected a JSON path starting with "\$"/);
    expect(checkPath('$.a[')).toMatch(/closing "\]"/);
    expect(checkPath('$.a[x]')).toMatch(/inside \[\]/);
    expect(checkPath('$.a.b')).toBeUndefined();
  });

  it('formats concrete paths back into the grammar', () => {
    expect(formatPath(['items', 0, 'id'])).toBe('$.items[0].id');
    expect(formatPath(['a b'])).toBe("$['a b']");
  });

  it('selects every matching value', () => {
    const doc = { a: { id: 1, b: [{ id: 2 }, { id: 3 }] } };
    expect(selectValues(compilePath('$..id'), doc).map((v) => v.value)).toEqual([1, 2, 3]);
  });
});
