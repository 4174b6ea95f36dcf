/**
 * Hand-written stubs layered over the recordings. Plain data (parsed from
 * WireMock-style mapping files by formats/wiremock-stubs.ts), compiled here
 * into matchers. Recordings sit at priority 5, WireMock's default: a stub with
 * a smaller number overrides them, a stub with 5 or more fills what they lack.
 */
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

export type BodyMatcher =
  | { kind: 'equalToJson'; json: unknown; ignoreArrayOrder: boolean; ignoreExtraElements: boolean }
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
  query: Array<{ name: string; matcher: StringMatcher }>;
  headers: Array<{ name: string; matcher: StringMatcher }>;
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

function firstHeader(raw: readonly string[], lower: string): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2) if ((raw[i] as string).toLowerCase() === lower) return raw[i + 1];
  return undefined;
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
    const hit = req.query.find(([k]) => k === q.name);
    if (!matchString(q.matcher, hit?.[1])) return false;
  }
  for (const h of stub.headers) if (!matchString(h.matcher, firstHeader(req.headers, h.name))) return false;
  for (const b of stub.body) {
    if (b.kind === 'equalToJson') {
      if (!req.isJson || !jsonEquals(b.json, req.json, b.ignoreArrayOrder, b.ignoreExtraElements)) return false;
    } else if (!matchString(b.matcher, req.content.toString('utf8'))) return false;
  }
  return true;
}

/** Stubs in evaluation order: priority, then file order. */
export function sortStubs(stubs: readonly StubDefinition[]): StubDefinition[] {
  return stubs.map((s, i) => ({ s, i })).sort((a, b) => a.s.priority - b.s.priority || a.i - b.i).map((x) => x.s);
}
