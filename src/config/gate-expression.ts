/**
 * Gate names and expressions as config carries them: `>= 0.99`, `== 0`,
 * `<= +10%`. A relative expression (with `%` and a sign or on a *_delta gate)
 * compares a relative change; plain ones compare the value itself. Parsing
 * lives with the config so a bad expression fails at load with its line;
 * gates/ evaluates what this parses.
 */

export const GATE_NAMES = [
  'status_pass_rate',
  'body_match_rate',
  'field_match_rate',
  'mock_match_rate',
  'latency_p50_delta',
  'latency_p95_delta',
  'latency_p99_delta',
  'error_rate',
  'new_mismatch',
] as const;
export type GateName = (typeof GATE_NAMES)[number];

export const LATENCY_GATES: readonly GateName[] = ['latency_p50_delta', 'latency_p95_delta', 'latency_p99_delta'];

export type GateOperator = '>=' | '<=' | '==' | '!=' | '>' | '<';

export interface GateExpression {
  readonly source: string;
  readonly op: GateOperator;
  /** threshold as a plain number; `+10%` becomes 0.10 */
  readonly threshold: number;
  readonly isPercent: boolean;
}

const EXPR = /^\s*(>=|<=|==|!=|>|<)\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*(%)?\s*$/;

export function isGateName(name: string): name is GateName {
  return (GATE_NAMES as readonly string[]).includes(name);
}

/** Returns the parsed expression or a sentence saying what was expected. */
export function parseGateExpression(source: string): GateExpression | { error: string } {
  const m = EXPR.exec(source);
  if (!m) {
    return { error: `expected an operator (>=, <=, ==, !=, >, <) and a number, optionally a percentage like "<= +10%", got ${JSON.stringify(source)}` };
  }
  const isPercent = m[3] === '%';
  const raw = Number(m[2]);
  // Hundreds of digits parse to Infinity, a threshold every value meets or none does.
  if (!Number.isFinite(raw)) return { error: `expected a number a gate can compare with, got ${JSON.stringify(m[2])} (too large)` };
  return { source, op: m[1] as GateOperator, threshold: isPercent ? raw / 100 : raw, isPercent };
}
