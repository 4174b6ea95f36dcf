import { describe, expect, it } from 'vitest';
import { parseGateExpression, type GateExpression } from '../../../src/config/gate-expression.js';
import { evaluateGate } from '../../../src/gates/expression.js';

function parse(s: string): GateExpression {
  const r = parseGateExpression(s);
  if ('error' in r) throw new Error(r.error);
  return r;
}

describe('gate expressions', () => {
  it('parses plain and percentage thresholds', () => {
    expect(parse('>= 0.99')).toMatchObject({ op: '>=', threshold: 0.99, isPercent: false });
    expect(parse('<= +10%')).toMatchObject({ op: '<=', threshold: 0.1, isPercent: true });
    expect(parse('== 0')).toMatchObject({ op: '==', threshold: 0 });
  });

  it('evaluates each operator', () => {
    expect(evaluateGate(parse('>= 0.99'), 0.99)).toBe(true);
    expect(evaluateGate(parse('>= 0.99'), 0.98)).toBe(false);
    expect(evaluateGate(parse('<= +10%'), 0.12)).toBe(false);
    expect(evaluateGate(parse('== 0'), 0)).toBe(true);
    expect(evaluateGate(parse('!= 0'), 0)).toBe(false);
    expect(evaluateGate(parse('> 1'), 2)).toBe(true);
    expect(evaluateGate(parse('< 1'), 2)).toBe(false);
  });

  it('explains what was expected for bad expressions', () => {
    for (const bad of ['about 0.9', '>=', '0.9', '=> 1', '>= 1e']) {
      expect(parseGateExpression(bad)).toEqual({ error: expect.stringContaining('expected an operator') });
    }
  });
});
