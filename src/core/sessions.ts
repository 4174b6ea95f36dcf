/**
 * Session keys (DESIGN.md "Sessions"): which exchanges replay as one ordered
 * unit. Computed at capture time from the headers as sent, before redaction
 * (a jwt claim is read from the bearer token the store will never see).
 * Values of secret sources (cookies, credential headers) are stored as their
 * redaction placeholder, so a session id never leaks the secret it came from.
 */
import { DoppelError } from './errors.js';
import { DEFAULT_REDACTED_HEADERS } from './redact.js';

export type SessionKeySpec =
  | { kind: 'exchange' }
  | { kind: 'connection' }
  | { kind: 'header'; name: string }
  | { kind: 'cookie'; name: string }
  | { kind: 'jwt'; claim: string };

export function parseSessionKey(spec: string): SessionKeySpec {
  const s = spec.trim();
  if (s === 'exchange' || s === '') return { kind: 'exchange' };
  if (s === 'connection') return { kind: 'connection' };
  const colon = s.indexOf(':');
  const kind = colon === -1 ? '' : s.slice(0, colon);
  const arg = colon === -1 ? '' : s.slice(colon + 1).trim();
  if (arg !== '') {
    if (kind === 'header') return { kind: 'header', name: arg.toLowerCase() };
    if (kind === 'cookie') return { kind: 'cookie', name: arg };
    if (kind === 'jwt') return { kind: 'jwt', claim: arg };
  }
  throw new DoppelError('DOPPEL_CONFIG_INVALID', `sessions.key ${JSON.stringify(spec)}: expected "exchange", "connection", "header:NAME", "cookie:NAME" or "jwt:CLAIM"`);
}

export interface SessionInput {
  /** raw header list as sent: name, value, name, value, ... */
  rawHeaders: readonly string[];
  connectionId: string;
  exchangeId: string;
}

export type SessionKeyer = (input: SessionInput) => string;

const SECRET_HEADERS: ReadonlySet<string> = new Set(DEFAULT_REDACTED_HEADERS);

/**
 * Builds the session function. `placeholder` hides secret values; falls back
 * to one session per exchange when the request carries no key.
 * `recorderId` scopes connection sessions: connection ids are local to one
 * process, so two recorders writing one store must not merge theirs. Header,
 * cookie and claim sessions stay global: one user through two replicas is one
 * session.
 */
export function createSessionKeyer(
  spec: SessionKeySpec,
  placeholder: (value: string) => string,
  extraSecretHeaders: readonly string[] = [],
  recorderId?: string,
): SessionKeyer {
  switch (spec.kind) {
    case 'exchange':
      return (i) => i.exchangeId;
    case 'connection':
      return recorderId === undefined ? (i) => i.connectionId : (i) => `${recorderId}/${i.connectionId}`;
    case 'header': {
      const isSecret = SECRET_HEADERS.has(spec.name) || extraSecretHeaders.some((h) => h.toLowerCase() === spec.name);
      return (i) => {
        const v = rawHeader(i.rawHeaders, spec.name);
        if (v === undefined || v === '') return i.exchangeId;
        return isSecret ? placeholder(v) : v;
      };
    }
    case 'cookie':
      return (i) => {
        const v = cookieValue(i.rawHeaders, spec.name);
        return v === undefined || v === '' ? i.exchangeId : placeholder(v);
      };
    case 'jwt':
      return (i) => {
        const v = jwtClaim(rawHeader(i.rawHeaders, 'authorization'), spec.claim);
        return v ?? i.exchangeId;
      };
    default: {
      const never: never = spec;
      return never;
    }
  }
}

/** First value of a header in a raw list (name compared case-insensitively). */
export function rawHeader(raw: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) return raw[i + 1];
  }
  return undefined;
}

function cookieValue(raw: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() !== 'cookie') continue;
    for (const part of (raw[i + 1] as string).split(';')) {
      const eq = part.indexOf('=');
      if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
    }
  }
  return undefined;
}

/** Reads a claim of the payload of a bearer JWT (RFC 7519). The signature is not checked: this only groups traffic. */
export function jwtClaim(authorization: string | undefined, claim: string): string | undefined {
  if (authorization === undefined) return undefined;
  const m = /^Bearer\s+([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)$/i.exec(authorization.trim());
  if (!m) return undefined;
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(m[2] as string, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (payload === null || typeof payload !== 'object') return undefined;
  const value = (payload as Record<string, unknown>)[claim];
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}
