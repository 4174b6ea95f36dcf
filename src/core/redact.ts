/**
 * Capture-time redaction (DESIGN.md "Security"). Secrets become stable
 * placeholders `redacted:hmac:<16 hex>` = HMAC-SHA256(key, secret) truncated,
 * so equal secrets stay equal (sessions still group, mocks still pair calls)
 * while the secret itself never reaches the traffic store.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, basename, join } from 'node:path';
import { decodeContent, encodeContent, type UndecodedContent } from './content-coding.js';
import { DoppelError } from './errors.js';
import type { HeaderPairs } from './exchange.js';
import { compilePath, selectValues, type CompiledPath, type PathSegment } from './json-path.js';

export const REDACTED_PREFIX = 'redacted:hmac:';

/** Header names redacted by default (lower case). */
export const DEFAULT_REDACTED_HEADERS = ['authorization', 'cookie', 'set-cookie', 'proxy-authorization', 'x-api-key'] as const;

/** Query parameters that carry credentials often enough to redact by default. */
export const DEFAULT_REDACTED_QUERY_PARAMS = [
  'access_token',
  'refresh_token',
  'id_token',
  'api_key',
  'apikey',
  'client_secret',
  'password',
  'x-amz-signature',
] as const;

export type RedactionKind = 'header' | 'cookie' | 'url_userinfo' | 'query_param' | 'json_path';

export interface RedactorOptions {
  key: Buffer;
  enabled?: boolean;
  /** extra header names to redact, besides the defaults */
  headers?: readonly string[];
  /** extra query parameter names to redact, besides the defaults */
  queryParams?: readonly string[];
  /** JSON paths in the one path grammar, e.g. $.card.number */
  jsonPaths?: readonly string[];
  /** called once per secret replaced, e.g. to count doppel_redactions_total{kind} */
  onRedact?: (kind: RedactionKind) => void;
}

export interface Redactor {
  readonly isEnabled: boolean;
  /** the stable placeholder of a secret value */
  placeholder(value: string): string;
  /** redacted copy of the pairs (the input array when nothing changed) */
  headers(pairs: HeaderPairs): HeaderPairs;
  /** url (origin-form or absolute) with userinfo and credential query values replaced */
  url(url: string): string;
  /** a JSON body with configured paths replaced; undefined when nothing changed or not JSON */
  jsonBody(body: Buffer): Buffer | undefined;
  /** names of query parameters this redactor replaces (lower case) */
  readonly queryParamNames: ReadonlySet<string>;
  readonly jsonPaths: readonly CompiledPath[];
}

export function isRedactedValue(value: unknown): boolean {
  return typeof value === 'string' && value.includes(REDACTED_PREFIX);
}

export function createRedactor(opts: RedactorOptions): Redactor {
  const enabled = opts.enabled ?? true;
  const key = opts.key;
  const onRedact = opts.onRedact ?? (() => undefined);
  const headerNames = new Set<string>([...DEFAULT_REDACTED_HEADERS, ...(opts.headers ?? []).map((h) => h.toLowerCase())]);
  const queryParamNames = new Set<string>([...DEFAULT_REDACTED_QUERY_PARAMS, ...(opts.queryParams ?? []).map((q) => q.toLowerCase())]);
  const jsonPaths = (opts.jsonPaths ?? []).map((p) => compilePath(p)).filter((p) => p.kind === 'json');

  const placeholder = (value: string): string =>
    REDACTED_PREFIX + createHmac('sha256', key).update(value).digest('hex').slice(0, 16);

  const redactCredential = (value: string): string => {
    // Keep the scheme word ("Bearer", "Basic") so a reader still sees what kind of credential it was.
    const m = /^([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)\s+(\S.*)$/.exec(value);
    if (m) return `${m[1] as string} ${placeholder(m[2] as string)}`;
    return placeholder(value);
  };

  const redactCookieHeader = (value: string): string =>
    value
      .split(';')
      .map((part) => {
        const eq = part.indexOf('=');
        if (eq === -1) return part;
        const name = part.slice(0, eq);
        onRedact('cookie');
        return `${name}=${placeholder(part.slice(eq + 1).trim())}`;
      })
      .join(';');

  const redactSetCookie = (value: string): string => {
    // RFC 6265 §4.1: the first pair is the cookie; attributes after ";" (Path, Expires, ...) are not secret.
    const semi = value.indexOf(';');
    const pair = semi === -1 ? value : value.slice(0, semi);
    const eq = pair.indexOf('=');
    if (eq === -1) return value;
    onRedact('cookie');
    return `${pair.slice(0, eq)}=${placeholder(pair.slice(eq + 1).trim())}${semi === -1 ? '' : value.slice(semi)}`;
  };

  const headers = (pairs: HeaderPairs): HeaderPairs => {
    if (!enabled) return pairs;
    let out: HeaderPairs | undefined;
    for (let i = 0; i < pairs.length; i++) {
      const pair = pairs[i] as [string, string];
      const lower = pair[0].toLowerCase();
      if (!headerNames.has(lower) || isRedactedValue(pair[1])) continue;
      out ??= pairs.slice();
      let value: string;
      if (lower === 'cookie') value = redactCookieHeader(pair[1]);
      else if (lower === 'set-cookie') value = redactSetCookie(pair[1]);
      else {
        value = lower === 'authorization' || lower === 'proxy-authorization' ? redactCredential(pair[1]) : placeholder(pair[1]);
        onRedact('header');
      }
      out[i] = [pair[0], value];
    }
    return out ?? pairs;
  };

  const url = (raw: string): string => {
    if (!enabled) return raw;
    let out = raw;
    // userinfo only appears in absolute-form targets (RFC 9112 §3.2.2) and in URLs given to us
    const ui = /^([a-z][a-z0-9+.-]*:\/\/)([^@/?#]*)@/i.exec(out);
    if (ui && !isRedactedValue(ui[2])) {
      const info = ui[2] as string;
      const colon = info.indexOf(':');
      const user = colon === -1 ? info : info.slice(0, colon);
      const replaced = colon === -1 ? placeholder(user) : `${user}:${placeholder(info.slice(colon + 1))}`;
      out = `${ui[1] as string}${replaced}@${out.slice(ui[0].length)}`;
      onRedact('url_userinfo');
    }
    const q = out.indexOf('?');
    if (q === -1) return out;
    const hashAt = out.indexOf('#', q);
    const query = hashAt === -1 ? out.slice(q + 1) : out.slice(q + 1, hashAt);
    let changed = false;
    const parts = query.split('&').map((part) => {
      const eq = part.indexOf('=');
      if (eq === -1) return part;
      const name = safeDecode(part.slice(0, eq)).toLowerCase();
      const value = part.slice(eq + 1);
      if (!queryParamNames.has(name) || value === '' || isRedactedValue(safeDecode(value))) return part;
      changed = true;
      onRedact('query_param');
      return `${part.slice(0, eq)}=${encodeURIComponent(placeholder(safeDecode(value)))}`;
    });
    if (!changed) return out;
    return `${out.slice(0, q + 1)}${parts.join('&')}${hashAt === -1 ? '' : out.slice(hashAt)}`;
  };

  const jsonBody = (body: Buffer): Buffer | undefined => {
    if (!enabled || jsonPaths.length === 0 || body.length === 0) return undefined;
    const first = firstNonSpace(body);
    if (first !== 0x7b /* { */ && first !== 0x5b /* [ */) return undefined;
    let doc: unknown;
    try {
      doc = JSON.parse(body.toString('utf8'));
    } catch {
      return undefined;
    }
    let changed = false;
    for (const path of jsonPaths) {
      for (const hit of selectValues(path, doc)) {
        const v = hit.value;
        if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') continue;
        if (isRedactedValue(v)) continue;
        if (setAt(doc, hit.path, placeholder(String(v)))) {
          changed = true;
          onRedact('json_path');
        }
      }
    }
    return changed ? Buffer.from(JSON.stringify(doc)) : undefined;
  };

  return { isEnabled: enabled, placeholder, headers, url, jsonBody, queryParamNames, jsonPaths };
}

export interface BodyRedaction {
  /** the body to store: redacted, or the input when nothing changed */
  body: Buffer;
  /** set when the body's Content-Encoding could not be undone, so its JSON was not searched */
  undecoded?: UndecodedContent;
}

/**
 * JSON-path redaction of a body as captured. A body sent with a Content-Encoding
 * is decoded (bounded by maxDecodedBytes), redacted, and re-encoded in the same
 * codings, so the stored exchange keeps the headers the peer sent, mocks still
 * answer in that coding, and no secret reaches the store. A body that does not
 * decode (over the cap, corrupt, unknown coding) is kept as is, like a body that
 * is not JSON, and reported through `undecoded`.
 */
export function redactBody(redactor: Redactor, body: Buffer, contentEncoding: string | undefined, maxDecodedBytes: number): BodyRedaction {
  if (!redactor.isEnabled || redactor.jsonPaths.length === 0 || body.length === 0) return { body };
  if (contentEncoding === undefined) return { body: redactor.jsonBody(body) ?? body };
  const d = decodeContent(body, contentEncoding, maxDecodedBytes);
  if (!d.isDecoded) return { body, undecoded: d };
  const redacted = redactor.jsonBody(d.body);
  return { body: redacted === undefined ? body : encodeContent(redacted, d.codings) };
}

function firstNonSpace(buf: Buffer): number {
  for (let i = 0; i < buf.length && i < 64; i++) {
    const c = buf[i] as number;
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return c;
  }
  return -1;
}

function setAt(doc: unknown, path: readonly PathSegment[], value: unknown): boolean {
  if (path.length === 0) return false;
  let node = doc as Record<string | number, unknown> | unknown[];
  for (let i = 0; i < path.length - 1; i++) {
    const next = (node as Record<string | number, unknown>)[path[i] as string | number];
    if (next === null || typeof next !== 'object') return false;
    node = next as Record<string | number, unknown>;
  }
  (node as Record<string | number, unknown>)[path[path.length - 1] as string | number] = value;
  return true;
}

export function safeDecode(s: string): string {
  if (!s.includes('%') && !s.includes('+')) return s;
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

export interface RedactKeyOptions {
  /** DOPPEL_REDACT_KEY, when set */
  envKey: string | undefined;
  /** redact.key_file, when set (relative paths resolve against cwd) */
  keyFile: string | undefined;
  /** traffic directories the key must stay out of */
  trafficDirs: readonly string[];
  cwd: string;
}

export interface RedactKey {
  key: Buffer;
  source: 'env' | 'file' | 'generated';
}

/**
 * Finds the redaction key: DOPPEL_REDACT_KEY, else the key file (refused when
 * it lies inside a traffic directory: the key must never travel with the
 * traffic it protects), else a random key for this process only.
 */
export async function resolveRedactKey(opts: RedactKeyOptions): Promise<RedactKey> {
  if (opts.envKey !== undefined && opts.envKey !== '') return { key: Buffer.from(opts.envKey, 'utf8'), source: 'env' };
  if (opts.keyFile !== undefined && opts.keyFile !== '') {
    const file = realOrResolved(resolve(opts.cwd, opts.keyFile));
    for (const dir of opts.trafficDirs) {
      if (/^[a-z]+:\/\//i.test(dir)) continue;
      const d = realOrResolved(resolve(opts.cwd, dir));
      const rel = relative(d, file);
      if (rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))) {
        throw new DoppelError(
          'DOPPEL_USAGE',
          `redact.key_file ${opts.keyFile} is inside the traffic directory ${dir}: keep the key outside it, or it travels with the traffic it protects`,
        );
      }
    }
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (cause) {
      throw new DoppelError('DOPPEL_CONFIG_INVALID', `redact.key_file ${opts.keyFile}: cannot read it (${(cause as Error).message})`, { cause });
    }
    const key = text.trim();
    if (key === '') throw new DoppelError('DOPPEL_CONFIG_INVALID', `redact.key_file ${opts.keyFile} is empty`);
    return { key: Buffer.from(key, 'utf8'), source: 'file' };
  }
  return { key: randomBytes(32), source: 'generated' };
}

/** Resolves symlinks of the deepest existing ancestor, so a missing directory still compares right. */
function realOrResolved(p: string): string {
  let head = p;
  const tail: string[] = [];
  for (;;) {
    try {
      return join(realpathSync(head), ...tail.reverse());
    } catch {
      const parent = dirname(head);
      if (parent === head) return p;
      tail.push(basename(head));
      head = parent;
    }
  }
}
