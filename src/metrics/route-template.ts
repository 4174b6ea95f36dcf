/**
 * Folds a raw path into a route template for the `endpoint` label, so label
 * cardinality stays bounded however many ids the traffic holds.
 * `GET /orders/42?x=1` -> `GET /orders/:id`.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NUMERIC = /^-?\d+(\.\d+)?$/;
// 16+ hex chars: object ids, hashes, tokens. Shorter hex words ("cafe", "add") stay.
const LONG_HEX = /^[0-9a-f]{16,}$/i;
// ULIDs and similar 20+ char opaque ids mixing digits and letters
const OPAQUE_ID = /^(?=.*\d)(?=.*[a-z])[0-9a-z_-]{20,}$/i;

function isIdSegment(segment: string): boolean {
  return NUMERIC.test(segment) || UUID.test(segment) || LONG_HEX.test(segment) || OPAQUE_ID.test(segment);
}

/**
 * True when no id pattern can match, decided without a regex or a decode: every
 * pattern but NUMERIC needs 16+ characters, and NUMERIC starts with a digit or
 * '-'. Route words ("orders", "v1", "api") all take this path; it runs for every
 * shadow copy and every judged response.
 */
function isPlainWord(segment: string): boolean {
  if (segment.length >= 16 || segment.includes('%')) return false;
  const c = segment.charCodeAt(0);
  return !((c >= 48 && c <= 57) || c === 45);
}

export function templatePath(rawPath: string): string {
  const q = rawPath.indexOf('?');
  const path = q === -1 ? rawPath : rawPath.slice(0, q);
  if (path === '' || path === '/') return '/';
  const parts = path.split('/');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    if (part !== '' && !isPlainWord(part) && isIdSegment(part.includes('%') ? decodeURIComponentSafe(part) : part)) parts[i] = ':id';
  }
  return parts.join('/');
}

export function endpointLabel(method: string, rawPath: string): string {
  return `${method.toUpperCase()} ${templatePath(rawPath)}`;
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
