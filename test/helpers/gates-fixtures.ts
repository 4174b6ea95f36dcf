import type { CompareOutcome } from '../../src/compare/types.js';
import type { JudgedRequest } from '../../src/gates/types.js';

let seq = 0;

export function outcome(isMatch: boolean, fields = { match: 9, mismatch: isMatch ? 0 : 1, ignored: 0 }): CompareOutcome {
  return { isMatch, isStatusMatch: true, isBodyMatch: isMatch, fields, diffs: isMatch ? [] : [{ path: '$.x', kind: 'changed', expected: 1, actual: 2 }], flags: [] };
}

export function judged(p: Partial<JudgedRequest> = {}): JudgedRequest {
  seq++;
  return {
    exchangeId: `ex-${seq}`,
    endpoint: 'GET /orders/:id',
    isAnswered: true,
    candidateStatus: 200,
    baselineStatus: 200,
    outcome: outcome(true),
    candidateMs: undefined,
    baselineMs: undefined,
    ...p,
  };
}
