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

export function templatePath(rawPath: string): string {
  const q = rawPath.indexOf('?');
  const end = q === -1 ? rawPath.length : q;
  if (end === 0 || (end === 1 && rawPath.charCodeAt(0) === SLASH)) return '/';
  // Segment by segment without splitting: a plain word is judged on its characters, and the path
  // is only rebuilt when a segment is an id. Splitting and joining every path cost 1.3 µs a
  // replayed request.
  let out = '';
  let copied = 0;
  for (let from = 0; from <= end; ) {
    let to = rawPath.indexOf('/', from);
    if (to === -1 || to > end) to = end;
    if (to > from && !isPlainSegment(rawPath, from, to)) {
      const part = rawPath.slice(from, to);
      if (isIdSegment(part.includes('%') ? decodeURIComponentSafe(part) : part)) {
        out += rawPath.slice(copied, from) + ':id';
        copied = to;
      }
    }
    from = to + 1;
  }
  return copied === 0 ? (q === -1 ? rawPath : rawPath.slice(0, end)) : out + rawPath.slice(copied, end);
}

const SLASH = 47;

/**
 * True when no id pattern can match, decided without a regex or a decode: every
 * pattern but NUMERIC needs 16+ characters, and NUMERIC starts with a digit or
 * '-'. Route words ("orders", "v1", "api") all take this path; it runs for every
 * shadow copy and every judged response. Judged on rawPath[from, to), without
 * taking the segment out.
 */
function isPlainSegment(rawPath: string, from: number, to: number): boolean {
  if (to - from >= 16) return false;
  const c = rawPath.charCodeAt(from);
  if ((c >= 48 && c <= 57) || c === 45) return false;
  for (let i = from; i < to; i++) if (rawPath.charCodeAt(i) === 37) return false;
  return true;
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
