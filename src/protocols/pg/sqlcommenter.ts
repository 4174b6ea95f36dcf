/**
 * Trace context carried in SQL by sqlcommenter (https://google.github.io/sqlcommenter/spec/):
 * a trailing comment of URL-encoded, single-quoted key='value' pairs, e.g.
 *   SELECT * FROM orders WHERE id = $1 /*route='%2Forders',traceparent='00-4bf9...-00f0...-01'*\/
 * ORMs and OpenTelemetry instrumentations add it so a statement can be tied to
 * the request that issued it; doppel uses the trace id to answer a candidate's
 * statement from the primary's statement of the same inbound request.
 */

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;
const ZERO_TRACE = '0'.repeat(32);

/** The W3C trace id of the statement's sqlcommenter traceparent, or undefined. */
export function traceIdOfSql(sql: string): string | undefined {
  // Cheap test first: almost every statement has no such comment.
  const at = sql.lastIndexOf('traceparent=');
  if (at === -1) return undefined;
  const open = sql.lastIndexOf('/*', at);
  const close = sql.indexOf('*/', at);
  if (open === -1 || close === -1) return undefined;
  const m = /traceparent='([^']*)'/.exec(sql.slice(at, close));
  if (m === null) return undefined;
  let value: string;
  try {
    value = decodeURIComponent(m[1] as string).trim().toLowerCase();
  } catch {
    return undefined;
  }
  const id = TRACEPARENT.exec(value)?.[1];
  return id === undefined || id === ZERO_TRACE ? undefined : id;
}
