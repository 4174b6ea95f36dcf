/**
 * Rules of `doppel transform`: drop exchanges by "METHOD /path/glob", set or
 * remove header fields, replace JSON body values at paths with the stable
 * redaction placeholder of src/core/redact.ts. A body sent with a
 * Content-Encoding is decoded to be redacted and re-encoded in the same coding.
 *
 *   drop: ["GET /healthz", "* /admin/**"]
 *   set_headers: { request: { X-Env: staging }, response: { X-Copy: "1" } }
 *   remove_headers: { request: [Cookie], response: [Set-Cookie] }
 *   redact_json_paths: ["$.card.number", "$.users[*].email"]
 */
import { parse as parseYaml } from 'yaml';
import { DoppelError } from '../core/errors.js';
import { contentEncodingOf, DEFAULT_DECODE_LIMIT, type UndecodedContent } from '../core/content-coding.js';
import { decodeBody, encodeBody, type BodyEncoding, type Exchange, type HeaderPairs } from '../core/exchange.js';
import { createRedactor, redactBody } from '../core/redact.js';
import { checkPath } from '../core/json-path.js';
import { createRequestFilter, type RequestFilter } from '../replay/request-filter.js';

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

export interface TransformRules {
  drop: string[];
  setHeaders: { request: Array<[string, string]>; response: Array<[string, string]> };
  removeHeaders: { request: string[]; response: string[] };
  redactJsonPaths: string[];
}

export function parseTransformRules(text: string, file: string): TransformRules {
  const problems: string[] = [];
  let doc: unknown;
  try {
    doc = parseYaml(text) as unknown;
  } catch (err) {
    throw new DoppelError('DOPPEL_CONFIG_INVALID', `${file}: not valid YAML (${(err as Error).message})`);
  }
  doc ??= {};
  if (!isObj(doc)) throw new DoppelError('DOPPEL_CONFIG_INVALID', `${file}: expected a map of rules`);
  const rules: TransformRules = { drop: [], setHeaders: { request: [], response: [] }, removeHeaders: { request: [], response: [] }, redactJsonPaths: [] };
  const strings = (v: unknown, key: string): string[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) {
      problems.push(`${key}: expected a list of strings`);
      return [];
    }
    return v;
  };
  for (const k of Object.keys(doc)) if (!['drop', 'set_headers', 'remove_headers', 'redact_json_paths'].includes(k)) problems.push(`${k}: unknown key (known: drop, set_headers, remove_headers, redact_json_paths)`);
  rules.drop = strings(doc.drop, 'drop');
  rules.drop.forEach((d, i) => {
    try {
      createRequestFilter([], [d]);
    } catch {
      problems.push(`drop[${i}]: expected "METHOD /path/glob" like "GET /orders/*", got ${JSON.stringify(d)}`);
    }
  });
  for (const side of ['request', 'response'] as const) {
    const set = isObj(doc.set_headers) ? doc.set_headers[side] : undefined;
    if (set !== undefined) {
      if (!isObj(set)) problems.push(`set_headers.${side}: expected a map of name: value`);
      else for (const [name, value] of Object.entries(set)) {
        if (typeof value !== 'string' && typeof value !== 'number') problems.push(`set_headers.${side}.${name}: expected a string`);
        else rules.setHeaders[side].push([name, String(value)]);
      }
    }
    const rm = isObj(doc.remove_headers) ? doc.remove_headers[side] : undefined;
    rules.removeHeaders[side] = strings(rm, `remove_headers.${side}`).map((h) => h.toLowerCase());
  }
  for (const k of ['set_headers', 'remove_headers'] as const) {
    const v = doc[k];
    if (v !== undefined && !isObj(v)) problems.push(`${k}: expected a map with request and/or response`);
    else if (isObj(v)) for (const side of Object.keys(v)) if (side !== 'request' && side !== 'response') problems.push(`${k}.${side}: unknown key (known: request, response)`);
  }
  rules.redactJsonPaths = strings(doc.redact_json_paths, 'redact_json_paths');
  rules.redactJsonPaths.forEach((p, i) => {
    const why = p.startsWith('$') ? checkPath(p) : 'a body path starts with "$", like $.card.number';
    if (why !== undefined) problems.push(`redact_json_paths[${i}]: ${why}`);
  });
  if (problems.length > 0) throw new DoppelError('DOPPEL_CONFIG_INVALID', `${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'} in transform rules`, { details: problems });
  return rules;
}

export interface Transformer {
  /** the rewritten exchange, or undefined when a drop rule matched */
  apply(ex: Exchange): Exchange | undefined;
}

function rewriteHeaders(pairs: HeaderPairs, remove: readonly string[], set: ReadonlyArray<[string, string]>): HeaderPairs {
  if (remove.length === 0 && set.length === 0) return pairs;
  const replaced = new Set(set.map(([k]) => k.toLowerCase()));
  const out = pairs.filter(([k]) => !remove.includes(k.toLowerCase()) && !replaced.has(k.toLowerCase()));
  for (const [k, v] of set) out.push([k, v]);
  return out;
}

export interface TransformerOptions {
  /** decode cap of compressed bodies (compare.max_body_bytes; default 1mb) */
  maxDecodedBytes?: number;
  /** told about each body whose Content-Encoding did not decode (left as it was) */
  onUndecoded?: (u: UndecodedContent) => void;
}

export function createTransformer(rules: TransformRules, key: Buffer, opts: TransformerOptions = {}): Transformer {
  const filter: RequestFilter = createRequestFilter([], rules.drop);
  const redactor = rules.redactJsonPaths.length > 0 ? createRedactor({ key, jsonPaths: rules.redactJsonPaths }) : undefined;
  const maxDecoded = opts.maxDecodedBytes ?? DEFAULT_DECODE_LIMIT;
  // Reads the headers the body was recorded with, before any header rule rewrites them.
  const redactPart = <T extends { headers: HeaderPairs; body: string; bodyEncoding: BodyEncoding }>(part: T): T => {
    if (redactor === undefined || part.body === '') return part;
    const coding = contentEncodingOf(part.headers);
    if (coding === undefined) {
      if (part.bodyEncoding !== 'utf8') return part;
      const out = redactor.jsonBody(decodeBody(part.body, 'utf8'));
      return out === undefined ? part : { ...part, body: out.toString('utf8') };
    }
    const raw = decodeBody(part.body, part.bodyEncoding);
    const r = redactBody(redactor, raw, coding, maxDecoded);
    if (r.undecoded !== undefined) opts.onUndecoded?.(r.undecoded);
    return r.body === raw ? part : { ...part, ...encodeBody(r.body) };
  };
  return {
    apply(ex) {
      if (ex.protocol !== 'http') return ex;
      const { request, response } = ex.http;
      if (!filter.accepts(request.method, request.url)) return undefined;
      return {
        ...ex,
        tags: { ...ex.tags, transformed: 'true' },
        http: {
          ...ex.http,
          request: { ...redactPart(request), headers: rewriteHeaders(request.headers, rules.removeHeaders.request, rules.setHeaders.request) },
          response:
            response === null
              ? null
              : { ...redactPart(response), headers: rewriteHeaders(response.headers, rules.removeHeaders.response, rules.setHeaders.response) },
        },
      };
    },
  };
}
