import { describe, it } from 'vitest';
import { fuzz } from './fuzz-run.js';
import { checkGateSource, gateSourceArb } from './targets/gate-expression.js';
import { checkFormatRoundTrip, checkPathSource, pathArb, pathSourceArb } from './targets/path-grammar.js';

describe('path grammar and gate expressions under fuzzing', () => {
  it('a path refuses bad text with its coded error and nothing else', async () => {
    await fuzz('path-grammar', pathSourceArb, checkPathSource, 3000);
  });

  it('a concrete path written by formatPath compiles back to a pattern selecting it', async () => {
    await fuzz('path-format', pathArb, checkFormatRoundTrip, 2000);
  });

  it('a gate expression parses to a finite threshold or says what was expected', async () => {
    await fuzz('gate-expression', gateSourceArb, checkGateSource, 3000);
  });
});
