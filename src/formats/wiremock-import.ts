/**
 * `doppel import wiremock`: WireMock stub mappings, as WireMock's recorder and
 * its users write them (https://wiremock.org/docs/stubbing/,
 * /docs/request-matching/, /docs/record-playback/), into a traffic directory.
 *
 * Each mapping becomes one of:
 * - an outbound **exchange**, when it names one concrete request (a method,
 *   `url` or `urlPath` with `equalTo` query parameters, `equalTo` headers,
 *   at most one `equalTo` / `equalToJson` / `equalToXml` / `binaryEqualTo`
 *   body) and has a response: the mock serves it by its index, in recorded
 *   order, which is what scenarios become (wiremock-scenarios.ts);
 * - a **stub**, when it is a pattern doppel's stub engine evaluates (URL
 *   patterns, ANY, `matches` / `contains` / `matchesJsonPath` ..., faults):
 *   written to TRAFFIC/stubs/SERVICE.json, which the mock of SERVICE loads;
 * - a **skip** with its file, index and reason, when neither can hold it.
 */
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { DoppelError } from '../core/errors.js';
import { encodeBody, type HeaderPairs, type HttpExchange } from '../core/exchange.js';
import { newExchangeId } from '../core/ids.js';
import type { StringMatcher, StubDefinition, ValueMatcher } from '../mock/http-stubs.js';
import { jsonErrorOffset, lineOf, type SkippedRecord } from './import-report.js';
import { readWireMockMapping, trafficStubsFile } from '../mock/wiremock-stubs.js';
import type { WireMockInput } from './wiremock-mappings.js';
import { orderScenario, type ScenarioMember } from './wiremock-scenarios.js';

type Json = Record<string, unknown>;

const isObj = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

export interface WireMockImportOptions {
  service: string;
  skip: (s: SkippedRecord) => void;
  /** pattern mappings, ready for the stubs file (bodies inline, scenario keys gone) */
  stubs: Json[];
  now?: number;
}

interface ConcreteRequest {
  method: string;
  url: string;
  headers: HeaderPairs;
  body: Buffer;
}

interface Prepared {
  mapping: Json;
  scenario: { name: string; required: string | undefined; next: string | undefined } | undefined;
  hasXml: boolean;
}

function isConcreteValue(m: StringMatcher): m is { kind: 'equalTo'; value: string; caseInsensitive: false } {
  return m.kind === 'equalTo' && !m.caseInsensitive;
}

/** The one request a mapping names, or why it is a pattern. */
export function concreteRequest(stub: StubDefinition): ConcreteRequest | string {
  if (stub.method === undefined) return 'method ANY (or none) matches any method';
  let path: string;
  const query = new URLSearchParams();
  switch (stub.url.kind) {
    case 'url': {
      const q = stub.url.value.indexOf('?');
      if (q === -1) path = stub.url.value;
      else {
        path = stub.url.value.slice(0, q);
        // keep the recorded query text byte for byte when nothing is added to it
        if (stub.query.length === 0) return withRest(stub, stub.url.value);
        for (const [k, v] of new URLSearchParams(stub.url.value.slice(q + 1))) query.append(k, v);
      }
      break;
    }
    case 'urlPath':
      path = stub.url.value;
      break;
    case 'urlPathPattern':
    case 'urlPattern':
      return `request.${stub.url.kind} is a pattern`;
    case 'any':
      return 'no url, urlPath or pattern: matches any URL';
    default: {
      const never: never = stub.url;
      return String(never);
    }
  }
  for (const { name, matcher } of stub.query) {
    const values = concreteValues(matcher);
    if (typeof values === 'string') return `request.queryParameters.${name} uses ${values}`;
    for (const v of values) query.append(name, v);
  }
  const qs = query.toString();
  return withRest(stub, qs === '' ? path : `${path}?${qs}`);
}

function withRest(stub: StubDefinition, url: string): ConcreteRequest | string {
  const headers: HeaderPairs = [];
  for (const { name, matcher } of stub.headers) {
    const values = concreteValues(matcher);
    if (typeof values === 'string') return `request.headers.${name} uses ${values}`;
    for (const v of values) headers.push([name, v]);
  }
  if (stub.body.length > 1) return 'more than one body pattern';
  let body: Buffer = Buffer.alloc(0);
  const b = stub.body[0];
  if (b !== undefined) {
    switch (b.kind) {
      case 'equalToJson':
        body = Buffer.from(JSON.stringify(b.json));
        break;
      case 'binaryEqualTo':
        body = b.bytes;
        break;
      case 'string':
        if (!isConcreteValue(b.matcher)) return `request.bodyPatterns uses ${matcherName(b.matcher)}`;
        body = Buffer.from(b.matcher.value, 'utf8');
        break;
      case 'matchesJsonPath':
        return 'request.bodyPatterns uses matchesJsonPath';
      default: {
        const never: never = b;
        return String(never);
      }
    }
  }
  return { method: stub.method as string, url, headers, body };
}

function matcherName(m: StringMatcher): string {
  return m.kind === 'equalTo' ? 'equalTo with caseInsensitive' : m.kind;
}

/**
 * The values a query or header matcher names: equalTo names one, absent
 * none, hasExactly of equalTo each of them (what WireMock's recorder writes
 * for query parameters); anything else is a pattern, named in the answer.
 */
function concreteValues(m: ValueMatcher): string[] | string {
  switch (m.kind) {
    case 'absent':
      return [];
    case 'hasExactly': {
      const out: string[] = [];
      for (const one of m.each) {
        if (!isConcreteValue(one)) return `hasExactly with ${matcherName(one)}`;
        out.push(one.value);
      }
      return out;
    }
    case 'includes':
      return 'includes';
    case 'equalTo':
    case 'matches':
    case 'doesNotMatch':
    case 'contains':
      return isConcreteValue(m) ? [m.value] : matcherName(m);
    default: {
      const never: never = m;
      return String(never);
    }
  }
}

function exchangeOf(stub: StubDefinition, req: ConcreteRequest, service: string, at: number, tags: Record<string, string>): HttpExchange {
  const resHeaders: HeaderPairs = [];
  for (let i = 0; i + 1 < stub.response.headers.length; i += 2) resHeaders.push([stub.response.headers[i] as string, stub.response.headers[i + 1] as string]);
  const id = newExchangeId(at);
  return {
    v: 1,
    id,
    session: id,
    parent: null,
    direction: 'outbound',
    service,
    protocol: 'http',
    startedAt: new Date(at).toISOString(),
    durationMs: stub.response.delayMs,
    tags: { source: 'wiremock', stub: stub.id, ...tags },
    http: {
      request: { method: req.method, url: req.url, headers: req.headers, ...encodeBody(req.body), truncated: false },
      response: { status: stub.response.status, headers: resHeaders, ...encodeBody(stub.response.body), truncated: false },
    },
  };
}

/** `response.bodyFileName` is relative to ROOT/__files; it may not leave that folder. */
async function readBodyFile(name: unknown, filesDir: string): Promise<Buffer | string> {
  if (typeof name !== 'string' || name === '') return 'response.bodyFileName: expected a file name under __files';
  const file = resolve(filesDir, name);
  const rel = relative(filesDir, file);
  if (isAbsolute(name) || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return `response.bodyFileName ${name}: outside the __files folder`;
  try {
    return await readFile(file);
  } catch (err) {
    return `response.bodyFileName ${name}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
  }
}

const SCENARIO_KEYS = ['scenarioName', 'requiredScenarioState', 'newScenarioState'] as const;

/**
 * The mapping as the stub parser reads it: the body file inline, scenario
 * keys taken out, equalToXml as its text (kept only when the mapping is one
 * concrete request, where the text is the request body).
 */
async function prepare(m: unknown, filesDir: string): Promise<Prepared | string> {
  if (!isObj(m)) return 'expected a mapping object with "request" and "response"';
  const mapping: Json = { ...m };
  let scenario: Prepared['scenario'];
  for (const k of SCENARIO_KEYS) {
    if (mapping[k] !== undefined && typeof mapping[k] !== 'string') return `${k}: expected a string`;
  }
  if (typeof mapping.scenarioName === 'string') {
    scenario = {
      name: mapping.scenarioName,
      required: mapping.requiredScenarioState as string | undefined,
      next: mapping.newScenarioState as string | undefined,
    };
  } else if (mapping.requiredScenarioState !== undefined || mapping.newScenarioState !== undefined) {
    return 'requiredScenarioState / newScenarioState without a scenarioName';
  }
  for (const k of SCENARIO_KEYS) delete mapping[k];
  delete mapping.insertionIndex;
  let hasXml = false;
  const req = mapping.request;
  if (isObj(req) && Array.isArray(req.bodyPatterns)) {
    const patterns = req.bodyPatterns.map((p: unknown) => {
      if (!isObj(p) || typeof p.equalToXml !== 'string') return p;
      hasXml = true;
      // other keys (XMLUnit options such as enablePlaceholders) stay, so the parser refuses them by name
      const { equalToXml, ...rest } = p;
      return { ...rest, equalTo: equalToXml };
    });
    mapping.request = { ...req, bodyPatterns: patterns };
  }
  const res = mapping.response;
  if (isObj(res) && res.bodyFileName !== undefined) {
    const body = await readBodyFile(res.bodyFileName, filesDir);
    if (typeof body === 'string') return body;
    const { bodyFileName: _, ...rest } = res;
    mapping.response = { ...rest, base64Body: body.toString('base64') };
  }
  return { mapping, scenario, hasXml };
}

/** A file's mappings: one mapping, a list, or `{"mappings": [...]}`; or why the file is skipped. */
async function readMappings(file: string): Promise<unknown[] | SkippedRecord> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    return { where: file, reason: `cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return { where: `${file}:${lineOf(text, jsonErrorOffset(text))}`, reason: `not valid JSON (${oneLine((err as Error).message)})` };
  }
  if (Array.isArray(doc)) return doc as unknown[];
  if (isObj(doc)) return Array.isArray(doc.mappings) ? (doc.mappings as unknown[]) : [doc];
  return { where: file, reason: 'not a WireMock mapping, a list of them or {"mappings": [...]}' };
}

/** V8 quotes the text around a syntax error, newlines and all. */
function oneLine(message: string): string {
  const s = message.replace(/\s+/g, ' ').trim();
  return s.length > 160 ? `${s.slice(0, 157)}...` : s;
}

interface Pending {
  stub: StubDefinition;
  req: ConcreteRequest;
}

/**
 * Streams the exchanges of the mappings in `input`, in file order; scenario
 * members follow at the end in recorded order. Stubs are collected into
 * `opts.stubs`, skips reported through `opts.skip`.
 */
export async function* importWireMock(input: WireMockInput, opts: WireMockImportOptions): AsyncGenerator<HttpExchange> {
  const { service, skip } = opts;
  const t0 = opts.now ?? Date.now();
  let n = 0;
  const scenarios = new Map<string, Array<ScenarioMember<Pending>>>();
  for (const file of input.files) {
    const list = await readMappings(file);
    if (!Array.isArray(list)) {
      skip(list);
      continue;
    }
    for (let i = 0; i < list.length; i++) {
      const where = `${file}#${i}`;
      const prepared = await prepare(list[i], input.filesDir);
      if (typeof prepared === 'string') {
        skip({ where, reason: prepared });
        continue;
      }
      const read = readWireMockMapping(prepared.mapping, i);
      if ('problem' in read) {
        skip({ where, reason: read.problem });
        continue;
      }
      const stub = read.stub;
      const req = stub.response.fault === undefined ? concreteRequest(stub) : `response.fault ${stub.response.fault}`;
      const sc = prepared.scenario;
      if (sc !== undefined) {
        if (typeof req === 'string') skip({ where, reason: `scenario "${sc.name}": ${req}; only a mapping that names one request with a response joins recorded order` });
        else {
          const members = scenarios.get(sc.name) ?? [];
          members.push({ where, scenario: sc.name, required: sc.required, next: sc.next, item: { stub, req } });
          scenarios.set(sc.name, members);
        }
      } else if (typeof req !== 'string') {
        yield exchangeOf(stub, req, service, t0 + n++, {});
      } else if (prepared.hasXml) {
        skip({ where, reason: `${req}; equalToXml is imported only on a mapping that names one request` });
      } else {
        opts.stubs.push(withSource(prepared.mapping, where));
      }
    }
  }
  for (const members of scenarios.values()) {
    const { ordered, skipped } = orderScenario(members);
    for (const s of skipped) skip(s);
    for (const m of ordered) {
      const tags: Record<string, string> = { scenario: m.scenario };
      if (m.required !== undefined) tags.scenarioState = m.required;
      yield exchangeOf(m.item.stub, m.item.req, service, t0 + n++, tags);
    }
  }
}

function withSource(mapping: Json, where: string): Json {
  const meta = isObj(mapping.metadata) ? mapping.metadata : {};
  return { ...mapping, metadata: { ...meta, doppel: { source: where } } };
}

/**
 * The mappings an earlier import kept in TRAFFIC/stubs/SERVICE.json, read
 * before anything is written so a broken file stops the import up front.
 */
export async function readTrafficStubs(dir: string, service: string): Promise<unknown[]> {
  const file = trafficStubsFile(dir, service);
  try {
    await access(file);
  } catch {
    return [];
  }
  const list = await readMappings(file);
  if (!Array.isArray(list)) throw new DoppelError('DOPPEL_INPUT_INVALID', `${list.where}: ${list.reason}; move it away to import stubs of ${service} here`);
  return list;
}

/** Writes TRAFFIC/stubs/SERVICE.json (owner-only, like the traffic); returns the file. */
export async function writeTrafficStubs(dir: string, service: string, mappings: readonly unknown[]): Promise<string> {
  const file = trafficStubsFile(dir, service);
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, `${JSON.stringify({ mappings }, null, 2)}\n`, { mode: 0o600 });
  return file;
}
