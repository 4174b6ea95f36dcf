/**
 * Hop-by-hop header handling for a transparent proxy (RFC 9110 §7.6.1):
 * Connection, the fields it names, Proxy-Connection, Keep-Alive, TE,
 * Transfer-Encoding and Upgrade apply to one connection and are never
 * forwarded. Works on raw header lists so order, case and duplicates of
 * everything else survive.
 */

/** Never forwarded toward the origin. Trailer and Expect are ours to handle: 100-continue is answered here (RFC 9110 §10.1.1) and request trailers are not relayed. */
const REQUEST_HOP = new Set([
  'connection',
  'proxy-connection',
  'keep-alive',
  'te',
  'transfer-encoding',
  'upgrade',
  'trailer',
  'expect',
  'proxy-authorization',
  'host',
]);

/** Never forwarded toward the client. Trailer stays: the trailers it announces are relayed. */
const RESPONSE_HOP = new Set(['connection', 'proxy-connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-authenticate']);

/** True for a lower-case request field name that never goes upstream (the list above). */
export function isRequestHopField(lower: string): boolean {
  return REQUEST_HOP.has(lower);
}

/** True for a lower-case response field name that never goes to the client. */
export function isResponseHopField(lower: string): boolean {
  return RESPONSE_HOP.has(lower);
}

/** Lower-case names listed in every Connection header (RFC 9110 §7.6.1 connection options). */
function connectionOptions(raw: readonly string[]): Set<string> | undefined {
  let out: Set<string> | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length !== 10 || name.toLowerCase() !== 'connection') continue;
    const value = raw[i + 1] as string;
    // The usual values name no other field: keep-alive is hop-by-hop anyway, close is not a field.
    if (value.length <= 10) {
      const v = value.toLowerCase();
      if (v === 'keep-alive' || v === 'close') continue;
    }
    for (const token of value.split(',')) {
      const t = token.trim().toLowerCase();
      if (t !== '') (out ??= new Set()).add(t);
    }
  }
  return out;
}

export interface ForwardedRequestHeaders {
  /** flat name, value list to send upstream */
  headers: string[];
  /** the Host value the client sent */
  host: string | undefined;
  /** client asked for trailers (TE: trailers), which this proxy supports */
  wantsTrailers: boolean;
}

/** Request headers to forward upstream. `host` replaces the client's Host when given (dependency ports). */
export function forwardRequestHeaders(raw: readonly string[], host: string | undefined): ForwardedRequestHeaders {
  const named = connectionOptions(raw);
  const headers: string[] = [];
  let clientHost: string | undefined;
  let wantsTrailers = false;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    const lower = name.toLowerCase();
    if (REQUEST_HOP.has(lower)) {
      if (lower === 'host') clientHost = value;
      else if (lower === 'te' && /(^|,)\s*trailers\s*(;|,|$)/i.test(value)) wantsTrailers = true;
      continue;
    }
    if (named?.has(lower) === true) continue;
    headers.push(name, value);
  }
  // Host goes first, as RFC 9112 §3.2 asks of user agents.
  const h = host ?? clientHost;
  if (h !== undefined) headers.unshift('Host', h);
  if (wantsTrailers) headers.push('TE', 'trailers');
  return { headers, host: clientHost, wantsTrailers };
}

/** Response headers to relay to the client, from undici's raw Buffer list. */
export function forwardResponseHeaders(raw: readonly Buffer[] | readonly string[]): string[] {
  const strs: string[] = new Array<string>(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const v = raw[i] as Buffer | string;
    strs[i] = typeof v === 'string' ? v : v.toString('latin1');
  }
  return stripResponseHop(strs);
}

export function stripResponseHop(raw: readonly string[]): string[] {
  const named = connectionOptions(raw);
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (RESPONSE_HOP.has(lower) || named?.has(lower) === true) continue;
    out.push(name, raw[i + 1] as string);
  }
  return out;
}

/** Flat raw list -> ordered pairs (the exchange's header shape). */
export function toPairs(raw: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i] as string, raw[i + 1] as string]);
  return out;
}

/** Ordered pairs -> flat raw list. */
export function toFlat(pairs: ReadonlyArray<readonly [string, string]>): string[] {
  const out: string[] = [];
  for (const [k, v] of pairs) out.push(k, v);
  return out;
}

export function bufferPairs(raw: readonly Buffer[] | readonly string[] | null | undefined): string[] {
  if (!raw) return [];
  const out: string[] = new Array<string>(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const v = raw[i] as Buffer | string;
    out[i] = typeof v === 'string' ? v : v.toString('latin1');
  }
  return out;
}

/** Request fields as recorded: what the client sent, minus the proxy's own connection fields (HTTP/1.1 and HTTP/2 paths alike). */
export function recordedRequestFields(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const lower = (raw[i] as string).toLowerCase();
    if (lower === 'connection' || lower === 'keep-alive' || lower === 'proxy-connection' || lower === 'transfer-encoding' || lower === 'te' || lower === 'upgrade' || lower === 'expect') continue;
    out.push(raw[i] as string, raw[i + 1] as string);
  }
  return out;
}
