/**
 * Statement parameter rules of the Postgres mock (`pg:$N` in compare.ignore).
 * The entry's own keys are checked at config load (config/check-pg-mock.ts).
 */

const PARAM_RULE = /^(?:pg:)?(?:\$|param:)(\d+)$/i;

/**
 * Ignore rules for statement parameters: `$2`, `param:2`, or with the `pg:`
 * prefix used in `compare.ignore` (`pg:$2`). A parameter named by a rule is
 * not matched: recordings that differ only there are the same statement.
 * Returns 0-based positions and the problems of rules that do not parse.
 */
export function parsePgParamRules(rules: readonly string[], path = 'ignoreParams'): { positions: Set<number>; problems: string[] } {
  const positions = new Set<number>();
  const problems: string[] = [];
  rules.forEach((rule, i) => {
    const m = PARAM_RULE.exec(rule.trim());
    const n = m === null ? NaN : Number(m[1]);
    if (!(n >= 1 && n <= 65_535)) problems.push(`${path}[${i}]: ${JSON.stringify(rule)} is not a parameter rule; expected $N, param:N or pg:$N with N from 1`);
    else positions.add(n - 1);
  });
  return { positions, problems };
}

/** The `pg:` rules of a `compare.ignore` list (the other rules are JSON paths and headers). */
export function pgRulesOf(compareIgnore: readonly string[]): string[] {
  return compareIgnore.filter((r) => /^pg:/i.test(r.trim()));
}
