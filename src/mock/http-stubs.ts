/**
 * Hand-written stubs layered over the recordings. Plain data (parsed from
 * WireMock-style mapping files by formats/wiremock-stubs.ts), compiled here
 * into matchers. Recordings sit at priority 5, WireMock's default: a stub with
 * a smaller number overrides them, a stub with 5 or more fills what they lack.
 */
import { selectValues, type CompiledPath } from '../core/json-path.js';
import type { ParsedRequest } from './http-request-key.js';
import { canonicalJson, buildKeyOptions } from './http-request-key.js';

export const RECORDING_PRIORITY = 5;

export type Fault = 'CONNECTION_RESET_BY_PEER' | 'EMPTY_RESPONSE' | 'MALFORMED_RESPONSE_CHUNK' | 'RANDOM_DATA_THEN_CLOSE';
export const FAULTS: readonly Fault[] = ['CONNECTION_RESET_BY_PEER', 'EMPTY_RESPONSE', 'MALFORMED_RESPONSE_CHUNK', 'RANDOM_DATA_THEN_CLOSE'];

export type StringMatcher =
  | { kind: 'equalTo'; value: string; caseInsensitive: boolean }
  | { kind: 'matches'; re: RegExp }
  | { kind: 'doesNotMatch'; re: RegExp }
  | { kind: 'contains'; value: string }
  | { kind: 'absent' };

/** WireMock's multi-value matchers for repeated query parameters and header fields. */
export type ValueMatcher = StringMatcher | { kind: 'hasExactly'; each: StringMatcher[] } | { kind: 'includes'; each: StringMatcher[] };

export type BodyMatcher =
  | { kind: 'equalToJson'; json: unknown; ignoreArrayOrder: boolean; ignoreExtraElements: boolean }
  /** a value at the path exists (not null, nor an empty list or object), or one satisfies `value` */
  | { kind: 'matchesJsonPath'; path: CompiledPath; value: StringMatcher | undefined }
  | { kind: 'binaryEqualTo'; bytes: Buffer }
  | { kind: 'string'; matcher: StringMatcher };

export interface StubDefinition {
  /** where it came from: file#index */
  source: string;
  id: string;
  priority: number;
  method: string | undefined;
  url:
    | { kind: 'url'; value: string }
    | { kind: 'urlPath'; value: string }
    | { kind: 'urlPathPattern'; re: RegExp }
    | { kind: 'urlPattern'; re: RegExp }
    | { kind: 'any' };
  query: Array<{ name: string; matcher: ValueMatcher }>;
  headers: Array<{ name: string; matcher: ValueMatcher }>;
  body: BodyMatcher[];
  response: {
    status: number;
    headers: string[];
    body: Buffer;
    delayMs: number;
    fault: Fault | undefined;
  };
}

function matchString(m: StringMatcher, value: string | undefined): boolean {
  switch (m.kind) {
    case 'absent':
      return value === undefined;
    case 'equalTo':
      return value !== undefined && (m.caseInsensitive ? value.toLowerCase() === m.value.toLowerCase() : value === m.value);
    case 'matches':
      return value !== undefined && m.re.test(value);
    case 'doesNotMatch':
      return value !== undefined && !m.re.test(value);
    case 'contains':
      return value !== undefined && value.includes(m.value);
    default: {
      const never: never = m;
      return never;
    }
  }
}

const NO_RULES = buildKeyOptions({ valueClasses: false });

/** WireMock equalToJson: structural equality, optionally ignoring array order and extra object members. */
function jsonEquals(want: unknown, got: unknown, ignoreArrayOrder: boolean, ignoreExtra: boolean): boolean {
  if (Array.isArray(want)) {
    if (!Array.isArray(got)) return false;
    if (!ignoreExtra && want.length !== got.length) return false;
    if (!ignoreArrayOrder) return want.every((w, i) => jsonEquals(w, got[i], ignoreArrayOrder, ignoreExtra));
    const used = new Set<number>();
    return want.every((w) => {
      for (let i = 0; i < got.length; i++) {
        if (!used.has(i) && jsonEquals(w, got[i], ignoreArrayOrder, ignoreExtra)) {
          used.add(i);
          return true;
        }
      }
      return false;
    });
  }
  if (want !== null && typeof want === 'object') {
    if (got === null || typeof got !== 'object' || Array.isArray(got)) return false;
    const w = want as Record<string, unknown>;
    const g = got as Record<string, unknown>;
    const wk = Object.keys(w);
    if (!ignoreExtra && wk.length !== Object.keys(g).length) return false;
    return wk.every((k) => k in g && jsonEquals(w[k], g[k], ignoreArrayOrder, ignoreExtra));
  }
  return canonicalJson(want, NO_RULES, false) === canonicalJson(got, NO_RULES, false);
}

function headerValues(raw: readonly string[], lower: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) if ((raw[i] as string).toLowerCase() === lower) out.push(raw[i + 1] as string);
  return out;
}

/**
 * A single-value matcher looks at the first value; hasExactly wants as many
 * values as matchers, each matcher satisfied by one, includes only the latter
 * (https://wiremock.org/docs/request-matching/#multi-value-matching).
 */
function matchValues(m: ValueMatcher, values: readonly string[]): boolean {
  if (m.kind === 'hasExactly' || m.kind === 'includes') {
    if (m.kind === 'hasExactly' && values.length !== m.each.length) return false;
    return m.each.every((one) => values.some((v) => matchString(one, v)));
  }
  return matchString(m, values[0]);
}

export function stubMatches(stub: StubDefinition, req: ParsedRequest, url: string): boolean {
  if (stub.method !== undefined && stub.method !== req.method) return false;
  switch (stub.url.kind) {
    case 'any':
      break;
    case 'url':
      if (url !== stub.url.value) return false;
      break;
    case 'urlPath':
      if (req.path !== stub.url.value) return false;
      break;
    case 'urlPathPattern':
      if (!stub.url.re.test(req.path)) return false;
      break;
    case 'urlPattern':
      if (!stub.url.re.test(url)) return false;
      break;
    default: {
      const never: never = stub.url;
      return never;
    }
  }
  for (const q of stub.query) {
    if (!matchValues(q.matcher, req.query.filter(([k]) => k === q.name).map(([, v]) => v))) return false;
  }
  for (const h of stub.headers) if (!matchValues(h.matcher, headerValues(req.headers, h.name))) return false;
  for (const b of stub.body) if (!matchBody(b, req)) return false;
  return true;
}

function matchBody(b: BodyMatcher, req: ParsedRequest): boolean {
  switch (b.kind) {
    case 'equalToJson':
      return req.isJson && jsonEquals(b.json, req.json, b.ignoreArrayOrder, b.ignoreExtraElements);
    case 'matchesJsonPath':
      return req.isJson && matchJsonPath(b.path, b.value, req.json);
    case 'binaryEqualTo':
      return req.content.equals(b.bytes);
    case 'string':
      return matchString(b.matcher, req.content.toString('utf8'));
    default: {
      const never: never = b;
      return never;
    }
  }
}

/** WireMock's JSON path semantics (https://wiremock.org/docs/request-matching/#json-path). */
function matchJsonPath(path: CompiledPath, value: StringMatcher | undefined, json: unknown): boolean {
  const hits = selectValues(path, json).map((h) => h.value);
  if (value === undefined) {
    return hits.some((v) => v !== null && v !== undefined && !(Array.isArray(v) ? v.length === 0 : typeof v === 'object' && Object.keys(v).length === 0));
  }
  if (value.kind === 'absent') return hits.length === 0;
  return hits.some((v) => matchString(value, typeof v === 'string' ? v : JSON.stringify(v)));
}

/** Stubs in evaluation order: priority, then file order. */
export function sortStubs(stubs: readonly StubDefinition[]): StubDefinition[] {
  return stubs.map((s, i) => ({ s, i })).sort((a, b) => a.s.priority - b.s.priority || a.i - b.i).map((x) => x.s);
}
