import { describe, expect, it } from 'vitest';
import { validateCompareConfig } from '../../../src/config/check-compare.js';
import { parseConfig } from '../../../src/config/load.js';
import { DoppelError } from '../../../src/core/errors.js';
import { compareConfig } from '../../helpers/compare-fixtures.js';

describe('compare rule validation', () => {
  it('names the key of every invalid path', () => {
    const cfg = compareConfig({
      ignore: ['$.ok', 'header:date', 'createdAt', '$.a[x]'],
      unordered: ['header:x'],
      presence: ['$.b['],
      tolerances: { '$.t': '5 percent', total: 1 },
    });
    const problems = validateCompareConfig(cfg);
    expect(problems).toEqual([
      expect.stringMatching(/^compare\.ignore\[2\]: invalid path "createdAt": expected a JSON path starting with "\$"/),
      expect.stringMatching(/^compare\.ignore\[3\]: invalid path "\$\.a\[x\]"/),
      expect.stringMatching(/^compare\.unordered\[0\]: "header:x" is a header rule/),
      expect.stringMatching(/^compare\.presence\[0\]: invalid path "\$\.b\["/),
      expect.stringMatching(/^compare\.tolerances\["\$\.t"\]: expected an absolute tolerance/),
      expect.stringMatching(/^compare\.tolerances\["total"\]: invalid path/),
    ]);
  });

  it('refuses invalid rules once, at config load, listing each problem with its line', () => {
    let caught: unknown;
    try {
      parseConfig('compare:\n  ignore:\n    - nope\n', 'doppel.yaml', {});
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(DoppelError);
    expect((caught as DoppelError).code).toBe('DOPPEL_CONFIG_INVALID');
    expect((caught as DoppelError).exitCode).toBe(2);
    expect((caught as DoppelError).details[0]).toMatch(/^doppel\.yaml:3 compare\.ignore\[0\]: invalid path "nope"/);
  });

  it('accepts the rules of the design example', () => {
    expect(validateCompareConfig(compareConfig({ ignore: ['$.createdAt', '$..requestId', 'header:date'], tolerances: { '$.total': 0.01 } }))).toEqual([]);
  });
});
