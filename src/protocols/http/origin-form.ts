/**
 * The request target a proxy forwards: origin-form (RFC 9112 §3.2.1). An
 * absolute-form target (§3.2.2), or an HTTP/2 `:path` that is not a path,
 * goes on as its path and query; one that does not parse goes on as `/`.
 */
export function originForm(target: string): string {
  if (target.startsWith('/')) return target;
  try {
    const u = new URL(target);
    return u.pathname + u.search;
  } catch {
    return '/';
  }
}
