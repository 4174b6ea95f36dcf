/**
 * Reads stub files in a JSON subset of WireMock's stub mapping format
 * (https://wiremock.org/docs/stubbing/, /docs/request-matching/,
 * /docs/simulating-faults/): a single mapping, an array, or `{ "mappings": [...] }`.
 *
 * request: method (or ANY), url | urlPath | urlPathPattern | urlPattern,
 *   queryParameters and headers with equalTo / matches / doesNotMatch /
 *   contains / absent (hasExactly / includes for several values), bodyPatterns with equalToJson (ignoreArrayOrder,
 *   ignoreExtraElements), equalTo, contains, matches, matchesJsonPath, binaryEqualTo.
 * response: status, body | jsonBody | base64Body, headers, fixedDelayMilliseconds, fault.
 * priority: 1 is highest. Anything else is refused with the file and the key.
 */
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DoppelError } from '../core/errors.js';
import { compilePath, type CompiledPath } from '../core/json-path.js';
import { FAULTS, type BodyMatcher, type Fault, type StringMatcher, type StubDefinition, type ValueMatcher } from './http-stubs.js';

type Json = Record<string, unknown>;

const isObj = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A refused mapping: `path` is the key (file#index.request.x, or request.x below a bare mapping), `problem` why. */
class StubError extends Error {
  readonly path: string;
  readonly problem: string;
  constructor(path: string, problem: string) {
    const at = path.replace(/^\./, '');
    super(at === '' ? problem : `${at}: ${problem}`);
    this.path = at;
    this.problem = problem;
  }
}

function fail(where: string, message: string): never {
  throw new StubError(where, message);
}

function checkKeys(obj: Json, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) fail(`${where}.${k}`, `not supported (supported: ${allowed.join(', ')})`);
}

function parseRegex(src: unknown, where: string): RegExp {
  if (typeof src !== 'string') fail(where, 'expected a regular expression string');
  try {
    // WireMock patterns match the whole value (Java Matcher.matches)
    return new RegExp(`^(?:${src})$`);
  } catch (err) {
    fail(where, `invalid regular expression (${(err as Error).message})`);
  }
}

function parseStringMatcher(spec: unknown, where: string): StringMatcher {
  if (!isObj(spec)) fail(where, 'expected an object like {"equalTo": "x"}');
  checkKeys(spec, ['equalTo', 'caseInsensitive', 'matches', 'doesNotMatch', 'contains', 'absent'], where);
  if (typeof spec.equalTo === 'string') return { kind: 'equalTo', value: spec.equalTo, caseInsensitive: spec.caseInsensitive === true };
  if (spec.matches !== undefined) return { kind: 'matches', re: parseRegex(spec.matches, `${where}.matches`) };
  if (spec.doesNotMatch !== undefined) return { kind: 'doesNotMatch', re: parseRegex(spec.doesNotMatch, `${where}.doesNotMatch`) };
  if (typeof spec.contains === 'string') return { kind: 'contains', value: spec.contains };
  if (spec.absent === true) return { kind: 'absent' };
  fail(where, 'expected one of equalTo, matches, doesNotMatch, contains, absent');
}

function parseValueMatcher(spec: unknown, where: string): ValueMatcher {
  if (isObj(spec) && (spec.hasExactly !== undefined || spec.includes !== undefined)) {
    const kind = spec.hasExactly !== undefined ? ('hasExactly' as const) : ('includes' as const);
    checkKeys(spec, [kind], where);
    const list = spec[kind];
    if (!Array.isArray(list) || list.length === 0) fail(`${where}.${kind}`, 'expected a list of matchers like [{"equalTo": "x"}]');
    const each = list.map((m, i) => parseStringMatcher(m, `${where}.${kind}[${i}]`));
    return { kind, each };
  }
  return parseStringMatcher(spec, where);
}

function parseBodyPattern(spec: unknown, where: string): BodyMatcher {
  if (!isObj(spec)) fail(where, 'expected an object like {"equalToJson": {...}}');
  if (spec.equalToJson !== undefined) {
    checkKeys(spec, ['equalToJson', 'ignoreArrayOrder', 'ignoreExtraElements'], where);
    let json: unknown = spec.equalToJson;
    if (typeof json === 'string') {
      try {
        json = JSON.parse(json) as unknown;
      } catch {
        fail(`${where}.equalToJson`, 'the string is not valid JSON');
      }
    }
    return { kind: 'equalToJson', json, ignoreArrayOrder: spec.ignoreArrayOrder === true, ignoreExtraElements: spec.ignoreExtraElements === true };
  }
  if (spec.matchesJsonPath !== undefined) {
    checkKeys(spec, ['matchesJsonPath'], where);
    return parseJsonPathPattern(spec.matchesJsonPath, `${where}.matchesJsonPath`);
  }
  if (spec.binaryEqualTo !== undefined) {
    checkKeys(spec, ['binaryEqualTo'], where);
    if (typeof spec.binaryEqualTo !== 'string' || !BASE64.test(spec.binaryEqualTo)) fail(`${where}.binaryEqualTo`, 'expected the body as a base64 string');
    return { kind: 'binaryEqualTo', bytes: Buffer.from(spec.binaryEqualTo, 'base64') };
  }
  return { kind: 'string', matcher: parseStringMatcher(spec, where) };
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * `"matchesJsonPath": "$.a"` (the path selects a value that is not null, nor
 * an empty list or object) or `{"expression": "$.a", "equalTo": "x"}` (a
 * selected value satisfies the matcher), per
 * https://wiremock.org/docs/request-matching/#json-path. Paths use doppel's
 * grammar ($.a.b, $['a b'], [0], [*], ..); Jayway filter expressions such as
 * [?(@.x == 1)] and functions are refused.
 */
function parseJsonPathPattern(spec: unknown, where: string): BodyMatcher {
  let expression: unknown = spec;
  let value: StringMatcher | undefined;
  if (isObj(spec)) {
    const { expression: e, ...rest } = spec;
    expression = e;
    if (Object.keys(rest).length > 0) value = parseStringMatcher(rest, where);
  }
  if (typeof expression !== 'string') fail(where, 'expected a JSON path string or {"expression": "$.x", "equalTo": "..."}');
  let path: CompiledPath;
  try {
    path = compilePath(expression);
  } catch (err) {
    fail(where, `${(err as Error).message} (filter expressions and functions are not supported)`);
  }
  if (path.kind !== 'json') fail(where, 'expected a JSON path starting with "$"');
  return { kind: 'matchesJsonPath', path, value };
}

function parseMapping(m: unknown, where: string, index: number): StubDefinition {
  if (!isObj(m)) fail(where, 'expected a mapping object with "request" and "response"');
  checkKeys(m, ['id', 'uuid', 'name', 'priority', 'request', 'response', 'persistent', 'metadata', 'insertionIndex'], where);
  const req = m.request;
  const res = m.response;
  if (!isObj(req)) fail(`${where}.request`, 'expected an object');
  if (!isObj(res)) fail(`${where}.response`, 'expected an object');
  checkKeys(req, ['method', 'url', 'urlPath', 'urlPathPattern', 'urlPattern', 'queryParameters', 'headers', 'bodyPatterns'], `${where}.request`);
  checkKeys(res, ['status', 'statusMessage', 'body', 'jsonBody', 'base64Body', 'headers', 'fixedDelayMilliseconds', 'fault'], `${where}.response`);

  if (req.method !== undefined && typeof req.method !== 'string') fail(`${where}.request.method`, 'expected a method name like "GET" or "ANY"');
  const method = req.method === undefined || req.method === 'ANY' ? undefined : req.method.toUpperCase();
  let url: StubDefinition['url'] = { kind: 'any' };
  if (typeof req.url === 'string') url = { kind: 'url', value: req.url };
  else if (typeof req.urlPath === 'string') url = { kind: 'urlPath', value: req.urlPath };
  else if (req.urlPathPattern !== undefined) url = { kind: 'urlPathPattern', re: parseRegex(req.urlPathPattern, `${where}.request.urlPathPattern`) };
  else if (req.urlPattern !== undefined) url = { kind: 'urlPattern', re: parseRegex(req.urlPattern, `${where}.request.urlPattern`) };

  const query: StubDefinition['query'] = [];
  if (req.queryParameters !== undefined) {
    if (!isObj(req.queryParameters)) fail(`${where}.request.queryParameters`, 'expected an object of name -> matcher');
    for (const [name, spec] of Object.entries(req.queryParameters)) query.push({ name, matcher: parseValueMatcher(spec, `${where}.request.queryParameters.${name}`) });
  }
  const headers: StubDefinition['headers'] = [];
  if (req.headers !== undefined) {
    if (!isObj(req.headers)) fail(`${where}.request.headers`, 'expected an object of name -> matcher');
    for (const [name, spec] of Object.entries(req.headers)) headers.push({ name: name.toLowerCase(), matcher: parseValueMatcher(spec, `${where}.request.headers.${name}`) });
  }
  const body: BodyMatcher[] = [];
  if (req.bodyPatterns !== undefined) {
    if (!Array.isArray(req.bodyPatterns)) fail(`${where}.request.bodyPatterns`, 'expected a list');
    req.bodyPatterns.forEach((p, i) => body.push(parseBodyPattern(p, `${where}.request.bodyPatterns[${i}]`)));
  }

  const status = res.status === undefined ? 200 : Number(res.status);
  if (!Number.isInteger(status) || status < 100 || status > 599) fail(`${where}.response.status`, 'expected an HTTP status 100..599');
  const outHeaders: string[] = [];
  if (res.headers !== undefined) {
    if (!isObj(res.headers)) fail(`${where}.response.headers`, 'expected an object of name -> value or list of values');
    for (const [name, v] of Object.entries(res.headers)) {
      for (const value of Array.isArray(v) ? v : [v]) outHeaders.push(name, String(value as string));
    }
  }
  let bodyBuf = Buffer.alloc(0);
  if (typeof res.body === 'string') bodyBuf = Buffer.from(res.body, 'utf8');
  else if (res.jsonBody !== undefined) {
    bodyBuf = Buffer.from(JSON.stringify(res.jsonBody));
    if (!outHeaders.some((h, i) => i % 2 === 0 && h.toLowerCase() === 'content-type')) outHeaders.push('Content-Type', 'application/json');
  } else if (typeof res.base64Body === 'string') bodyBuf = Buffer.from(res.base64Body, 'base64');
  let fault: Fault | undefined;
  if (res.fault !== undefined) {
    if (!FAULTS.includes(res.fault as Fault)) fail(`${where}.response.fault`, `expected one of ${FAULTS.join(', ')}`);
    fault = res.fault as Fault;
  }
  const delay = res.fixedDelayMilliseconds === undefined ? 0 : Number(res.fixedDelayMilliseconds);
  if (!Number.isFinite(delay) || delay < 0) fail(`${where}.response.fixedDelayMilliseconds`, 'expected a number of milliseconds >= 0');
  const priority = m.priority === undefined ? 5 : Number(m.priority);
  if (!Number.isInteger(priority) || priority < 1) fail(`${where}.priority`, 'expected an integer >= 1 (1 is highest)');
  const id = typeof m.id === 'string' ? m.id : typeof m.uuid === 'string' ? m.uuid : `stub-${index}`;
  return {
    source: where,
    id,
    priority,
    method,
    url,
    query,
    headers,
    body,
    response: { status, headers: outHeaders, body: bodyBuf, delayMs: delay, fault },
  };
}

/** Parses stub mappings from JSON text; `name` is used in messages. */
export function parseWireMockStubs(text: string, name: string): StubDefinition[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new DoppelError('DOPPEL_INPUT_INVALID', `${name}: not valid JSON (${(err as Error).message})`);
  }
  const list = Array.isArray(doc) ? doc : isObj(doc) && Array.isArray(doc.mappings) ? doc.mappings : [doc];
  try {
    return list.map((m, i) => parseMapping(m, `${name}#${i}`, i));
  } catch (err) {
    if (err instanceof StubError) throw new DoppelError('DOPPEL_INPUT_INVALID', `stub file ${err.message}`);
    throw err;
  }
}

/** One mapping of a file being imported: the stub, or why it is refused (`request.cookies: not supported ...`). */
export function readWireMockMapping(m: unknown, index: number): { stub: StubDefinition } | { problem: string } {
  try {
    return { stub: parseMapping(m, '', index) };
  } catch (err) {
    if (err instanceof StubError) return { problem: err.message };
    throw err;
  }
}

export async function loadWireMockStubFiles(files: readonly string[]): Promise<StubDefinition[]> {
  const out: StubDefinition[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = await readFile(f, 'utf8');
    } catch (cause) {
      throw new DoppelError('DOPPEL_INPUT_INVALID', `stub file ${f}: cannot read it (${(cause as Error).message})`, { cause });
    }
    out.push(...parseWireMockStubs(text, f));
  }
  return out;
}

/**
 * Where `doppel import wiremock` keeps the stubs of SERVICE inside a traffic
 * directory; the HTTP mock of SERVICE loads this file with the recordings.
 */
export function trafficStubsFile(dir: string, service: string): string {
  return join(dir, 'stubs', `${encodeURIComponent(service)}.json`);
}

/** The traffic stub files of `service` that exist in the traffic directories `dirs`. */
export async function findTrafficStubFiles(dirs: readonly string[], service: string): Promise<string[]> {
  const out: string[] = [];
  for (const dir of dirs) {
    const file = trafficStubsFile(dir, service);
    try {
      await access(file);
      out.push(file);
    } catch {
      // no imported stubs for this service here
    }
  }
  return out;
}
