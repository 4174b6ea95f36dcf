/**
 * Evaluation of a gate expression parsed by config/gate-expression.ts.
 */
import type { GateExpression } from '../config/gate-expression.js';

export function evaluateGate(expr: GateExpression, value: number): boolean {
  switch (expr.op) {
    case '>=':
      return value >= expr.threshold;
    case '<=':
      return value <= expr.threshold;
    case '==':
      return value === expr.threshold;
    case '!=':
      return value !== expr.threshold;
    case '>':
      return value > expr.threshold;
    case '<':
      return value < expr.threshold;
    default: {
      const never: never = expr.op;
      throw new Error(`unknown operator ${String(never)}`);
    }
  }
}
