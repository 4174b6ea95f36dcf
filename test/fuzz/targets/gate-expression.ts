/** Gate expressions (`>= 0.99`, `<= +10%`) from gate files and config. */
import { expect } from 'vitest';
import fc from 'fast-check';
import { parseGateExpression } from '../../../src/config/gate-expression.js';
import { evaluateGate } from '../../../src/gates/expression.js';
import type { FuzzTarget } from '../fuzz-run.js';

/** Any text parses to a finite threshold or to a sentence saying what was expected; nothing is thrown. */
export function checkGateSource(source: string): void {
  const parsed = parseGateExpression(source);
  if ('error' in parsed) {
    expect(parsed.error).toMatch(/expected/);
    return;
  }
  expect(Number.isFinite(parsed.threshold)).toBe(true);
  // A value at the threshold passes exactly the operators that include equality.
  expect(evaluateGate(parsed, parsed.threshold)).toBe(['>=', '<=', '=='].includes(parsed.op));
}

export const gateExpressionTarget: FuzzTarget = {
  name: 'gate-expression',
  ext: 'txt',
  check: (input) => checkGateSource(input.toString('utf8')),
};

export const gateSourceArb = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc
    .tuple(
      fc.constantFrom('>=', '<=', '==', '!=', '>', '<', '=>', ''),
      fc.constantFrom('', ' ', '\t'),
      fc.constantFrom('', '+', '-'),
      fc.oneof(fc.stringMatching(/^\d{1,8}(\.\d{0,5})?$/), fc.integer({ min: 1, max: 420 }).map((n) => '9'.repeat(n)), fc.double().map(String)),
      fc.constantFrom('', '%', ' %', '%%'),
    )
    .map((parts) => parts.join('')),
);
