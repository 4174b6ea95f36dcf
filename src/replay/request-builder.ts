/**
 * Turns a recorded inbound exchange into the request sent to the target:
 * hop-by-hop headers stripped (RFC 9110 §7.6.1), Host and absolute URLs
 * rewritten to the target, configured headers set, captured values and
 * runtime variables injected.
 */
import type { HeaderPairs, HttpExchange } from '../core/exchange.js';
import { decodeBody } from '../core/exchange.js';
import {
  expandTemplates,
  parseJsonLoose,
  substituteJson,
  substituteText,
  substituteUrl,
  type SessionVars,
  type TemplateEnv,
} from './runtime-vars.js';

// RFC 9110 §7.6.1 hop-by-hop fields, plus fields the client library owns:
// content-length is recomputed (bodies may change), host is the target's,
// expect: 100-continue is a per-connection negotiation.
const DROPPED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'host',
  'content-length',
  'expect',
]);

export interface OutgoingRequest {
  method: string;
  /** path + query, relative to the target */
  path: string;
  /** flat [name, value, name, value, ...] so order and duplicates survive */
  headers: string[];
  body: Buffer | undefined;
  /** "2": the exchange was recorded over HTTP/2 and is replayed over HTTP/2 */
  version?: '2';
}

export interface RequestBuildOptions {
  /** target origin, e.g. https://127.0.0.1:8443 */
  targetOrigin: string;
  /** headers set or overridden on every request (values may hold {{...}}) */
  headers: ReadonlyArray<readonly [string, string]>;
  env: TemplateEnv;
}

function splitAbsolute(url: string): { origin: string | undefined; path: string } {
  if (!/^https?:\/\//i.test(url)) return { origin: undefined, path: url.startsWith('/') ? url : `/${url}` };
  try {
    const u = new URL(url);
    return { origin: u.origin, path: `${u.pathname}${u.search}` };
  } catch {
    return { origin: undefined, path: url };
  }
}

function isJsonType(headers: HeaderPairs): boolean {
  for (const [k, v] of headers) if (k.toLowerCase() === 'content-type') return /[/+]json\b/i.test(v);
  return false;
}

// Configured headers are the same for every request of a run: their names are lowered once.
const overriddenCache = new WeakMap<RequestBuildOptions['headers'], ReadonlySet<string>>();
function overriddenNames(headers: RequestBuildOptions['headers']): ReadonlySet<string> {
  let names = overriddenCache.get(headers);
  if (names === undefined) {
    names = new Set(headers.map(([k]) => k.toLowerCase()));
    overriddenCache.set(headers, names);
  }
  return names;
}

export function buildRequest(ex: HttpExchange, session: SessionVars | undefined, opts: RequestBuildOptions): OutgoingRequest {
  const req = ex.http.request;
  const { origin: urlOrigin, path: rawPath } = splitAbsolute(req.url);
  const hasSubst = session !== undefined && session.substitutions.size > 0;

  let recordedHost: string | undefined;
  let connectionListed: Set<string> | undefined;
  for (const [k, v] of req.headers) {
    const name = k.toLowerCase();
    if (name === 'host') recordedHost = v;
    else if (name === 'connection') for (const t of v.split(',')) (connectionListed ??= new Set()).add(t.trim().toLowerCase());
  }
  const recordedOrigins: string[] = [];
  if (urlOrigin !== undefined) recordedOrigins.push(urlOrigin);
  if (recordedHost !== undefined) recordedOrigins.push(`http://${recordedHost}`, `https://${recordedHost}`);
  const rewriteOrigins = (value: string): string => {
    let out = value;
    for (const o of recordedOrigins) if (out.includes(o)) out = out.split(o).join(opts.targetOrigin);
    return out;
  };

  let path = hasSubst ? substituteUrl(rawPath, session) : rawPath;
  path = expandTemplates(path, opts.env, session);

  const overridden = overriddenNames(opts.headers);
  const headers: string[] = [];
  for (const [k, v] of req.headers) {
    const name = k.toLowerCase();
    if (DROPPED.has(name) || connectionListed?.has(name) === true || overridden.has(name)) continue;
    let value = rewriteOrigins(v);
    if (hasSubst) value = substituteText(value, session, /id$/i.test(name));
    headers.push(k, expandTemplates(value, opts.env, session));
  }
  for (const [k, v] of opts.headers) headers.push(k, expandTemplates(v, opts.env, session));

  let body: Buffer | undefined;
  if (req.body !== '' || req.bodyEncoding === 'base64') {
    if (req.bodyEncoding === 'base64') {
      // Binary bodies go out byte for byte: no variable can live in them.
      body = decodeBody(req.body, 'base64');
    } else {
      let text = req.body;
      if (hasSubst) {
        const doc = isJsonType(req.headers) ? parseJsonLoose(text) : undefined;
        if (doc !== undefined) {
          const r = substituteJson(doc, session);
          if (r.changed) text = JSON.stringify(r.value);
        } else {
          text = substituteText(text, session);
        }
      }
      text = expandTemplates(rewriteOrigins(text), opts.env, session);
      body = Buffer.from(text, 'utf8');
    }
    if (body.length === 0 && !methodTakesBody(req.method)) body = undefined;
  }
  const out: OutgoingRequest = { method: req.method.toUpperCase(), path, headers, body };
  if (ex.http.version === '2') out.version = '2';
  return out;
}

function methodTakesBody(method: string): boolean {
  const m = method.toUpperCase();
  return m !== 'GET' && m !== 'HEAD';
}
