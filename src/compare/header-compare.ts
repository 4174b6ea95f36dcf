/**
 * Headers of a baseline and a candidate response: the configured names, or
 * every name but the volatile ones, each compared as a value (media types by
 * their parts, other values trimmed and, when on, by value class).
 */
import type { HeaderPairs } from '../core/exchange.js';
import type { CompiledRules } from './compiled-rules.js';
import type { Walk } from './json-walk.js';
import { isSameShape } from './value-classes.js';

/**
 * Headers that differ between any two responses by design (clocks, request
 * ids, caches, connection management, cookies). They are not compared even
 * when `compare.headers` is ["*"].
 */
export const VOLATILE_HEADERS: readonly string[] = [
  'date',
  'server',
  'etag',
  'last-modified',
  'expires',
  'age',
  'set-cookie',
  'x-request-id',
  'x-correlation-id',
  'request-id',
  'x-trace-id',
  'traceparent',
  'tracestate',
  'x-amzn-trace-id',
  'x-amz-request-id',
  'x-runtime',
  'x-response-time',
  'server-timing',
  'via',
  'x-powered-by',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'alt-svc',
  'report-to',
  'nel',
];

/** The value of a header (duplicates joined by ", ", RFC 9110 §5.3), or undefined. */
export function headerValue(headers: HeaderPairs, lowerName: string): string | undefined {
  let out: string | undefined;
  for (let i = 0; i < headers.length; i++) {
    const pair = headers[i] as [string, string];
    if (pair[0].length === lowerName.length && pair[0].toLowerCase() === lowerName) out = out === undefined ? pair[1] : `${out}, ${pair[1]}`;
  }
  return out;
}

export function compareHeaders(walk: Walk, rules: CompiledRules, a: HeaderPairs, b: HeaderPairs): boolean {
  let names = rules.headers;
  if (names === undefined) {
    const all = new Set<string>();
    for (const [k] of a) all.add(k.toLowerCase());
    for (const [k] of b) all.add(k.toLowerCase());
    for (const v of VOLATILE_HEADERS) all.delete(v);
    names = [...all];
  }
  let ok = true;
  for (const name of names) {
    const va = headerValue(a, name);
    const vb = headerValue(b, name);
    if (va === undefined && vb === undefined) continue;
    if (rules.ignoredHeaders.has(name)) {
      walk.ignored++;
      continue;
    }
    const path = `header:${name}`;
    if (va === undefined) {
      walk.diffAt(path, 'header', undefined, vb);
      ok = false;
    } else if (vb === undefined) {
      walk.diffAt(path, 'header', va, undefined);
      ok = false;
    } else if (isSameHeaderValue(name, va, vb, rules.valueClasses)) {
      walk.match++;
    } else {
      walk.diffAt(path, 'header', va, vb);
      ok = false;
    }
  }
  return ok;
}

function isSameHeaderValue(name: string, a: string, b: string, valueClasses: boolean): boolean {
  if (a === b) return true;
  // Media type and parameter names are case-insensitive, and whitespace around ";" is optional (RFC 9110 §8.3.1).
  if (name === 'content-type') return normalizeMediaType(a) === normalizeMediaType(b);
  const ta = a.trim();
  const tb = b.trim();
  if (ta === tb) return true;
  return valueClasses && isSameShape(ta, tb);
}

function normalizeMediaType(v: string): string {
  return v.toLowerCase().replace(/\s*;\s*/g, ';').replace(/"/g, '').trim();
}
