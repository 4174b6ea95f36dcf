/**
 * Value classes for Postgres parameters and literals (DESIGN.md, "Judging":
 * the same value classes apply when mocks match outbound requests, so a
 * generated key or timestamp still finds its recording).
 *
 * Adapter: the compare module's `classifyValue` is the one source of value
 * classes; until it is available this holds the two classes Postgres
 * traffic needs most. Swap the body for `classifyValue` when it lands.
 */
export type ValueClassifier = (value: string) => string | undefined;

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const TIMESTAMP_RE = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}(:?\d{2})?)?$/;

export const classifyParamValue: ValueClassifier = (value) => {
  if (value.length === 36 && UUID_RE.test(value)) return 'uuid';
  if (value.length >= 19 && value.length <= 35 && TIMESTAMP_RE.test(value)) return 'timestamp';
  return undefined;
};
