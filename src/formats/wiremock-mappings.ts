/**
 * WireMock stub mappings (https://wiremock.org/docs/stubbing/) to and from
 * exchanges. Import reuses the stub-file parser of the mock (wiremock-stubs.ts)
 * and keeps the mappings that describe one concrete request: a method, url or
 * urlPath with equalTo query parameters, and an equalTo/equalToJson body.
 * Export writes one mapping per HTTP exchange that got a response.
 */
import { randomUUID } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DoppelError } from '../core/errors.js';
import { decodeBody, encodeBody, type HeaderPairs, type HttpExchange } from '../core/exchange.js';
import { newExchangeId } from '../core/ids.js';
import type { StubDefinition } from '../mock/http-stubs.js';
import { parseWireMockStubs } from './wiremock-stubs.js';
import { parseJsonFile, type SkippedRecord } from './import-report.js';

type Json = Record<string, unknown>;

/** The mapping files of FILE, or of DIR/mappings/*.json (WireMock's layout), or DIR/*.json. */
export async function wireMockMappingFiles(path: string): Promise<string[]> {
  let st;
  try {
    st = await stat(path);
  } catch (cause) {
    throw new DoppelError('DOPPEL_INPUT_INVALID', `${path}: cannot read it (${(cause as Error).message})`, { cause });
  }
  if (!st.isDirectory()) return [path];
  let dir = path;
  try {
    if ((await stat(join(path, 'mappings'))).isDirectory()) dir = join(path, 'mappings');
  } catch {
    // no mappings/ folder: the directory itself holds the files
  }
  const names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
  if (names.length === 0) throw new DoppelError('DOPPEL_INPUT_INVALID', `${path}: no WireMock mapping files (*.json) found`);
  return names.map((n) => join(dir, n));
}

function concreteRequest(stub: StubDefinition): { method: string; url: string; body: string } | string {
  if (stub.method === undefined) return 'method ANY does not name one request';
  let url: string;
  switch (stub.url.kind) {
    case 'url':
      url = stub.url.value;
      break;
    case 'urlPath': {
      const q = new URLSearchParams();
      for (const { name, matcher } of stub.query) {
        if (matcher.kind !== 'equalTo') return `request.queryParameters.${name}: only equalTo names a concrete value`;
        q.append(name, matcher.value);
      }
      const qs = q.toString();
      url = qs === '' ? stub.url.value : `${stub.url.value}?${qs}`;
      break;
    }
    case 'urlPathPattern':
    case 'urlPattern':
    case 'any':
      return 'a URL pattern does not name one request (use url or urlPath)';
    default: {
      const never: never = stub.url;
      return String(never);
    }
  }
  if (stub.url.kind === 'url' && stub.query.length > 0) {
    const q = new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
    for (const { name, matcher } of stub.query) {
      if (matcher.kind !== 'equalTo') return `request.queryParameters.${name}: only equalTo names a concrete value`;
      q.append(name, matcher.value);
    }
    url = `${url.split('?')[0] as string}?${q.toString()}`;
  }
  let body = '';
  for (const b of stub.body) {
    if (b.kind === 'equalToJson') body = JSON.stringify(b.json);
    else if (b.matcher.kind === 'equalTo') body = b.matcher.value;
    else return `request.bodyPatterns: only equalTo and equalToJson name a concrete body`;
  }
  return { method: stub.method, url, body };
}

function stubToExchange(stub: StubDefinition, service: string, now: number): HttpExchange | string {
  if (stub.response.fault !== undefined) return `response.fault ${stub.response.fault} has no recorded response`;
  const req = concreteRequest(stub);
  if (typeof req === 'string') return req;
  const headers: HeaderPairs = [];
  for (const { name, matcher } of stub.headers) if (matcher.kind === 'equalTo') headers.push([name, matcher.value]);
  const resHeaders: HeaderPairs = [];
  for (let i = 0; i + 1 < stub.response.headers.length; i += 2) resHeaders.push([stub.response.headers[i] as string, stub.response.headers[i + 1] as string]);
  const id = newExchangeId(now);
  return {
    v: 1,
    id,
    session: id,
    parent: null,
    direction: 'outbound',
    service,
    protocol: 'http',
    startedAt: new Date(now).toISOString(),
    durationMs: stub.response.delayMs,
    tags: { source: 'wiremock', stub: stub.id },
    http: {
      request: { method: req.method, url: req.url, headers, body: req.body, bodyEncoding: 'utf8', truncated: false },
      response: { status: stub.response.status, headers: resHeaders, ...encodeBody(stub.response.body), truncated: false },
    },
  };
}

/**
 * Outbound exchanges of `service` from one mapping file. A malformed file is
 * an input error; a mapping that cannot be one concrete exchange is skipped.
 */
export async function wireMockFileToExchanges(file: string, service: string, skip: (s: SkippedRecord) => void): Promise<HttpExchange[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new DoppelError('DOPPEL_INPUT_INVALID', `${file}: cannot read it (${(cause as Error).message})`, { cause });
  }
  const doc = parseJsonFile(text, file);
  const isObj = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
  const list: unknown[] = Array.isArray(doc) ? doc : isObj(doc) && Array.isArray(doc.mappings) ? (doc.mappings as unknown[]) : [doc];
  const out: HttpExchange[] = [];
  const now = Date.now();
  list.forEach((m, i) => {
    const where = `${file}#${i}`;
    let stub: StubDefinition | undefined;
    try {
      stub = parseWireMockStubs(JSON.stringify(m), where)[0];
    } catch (err) {
      if (!(err instanceof DoppelError)) throw err;
      skip({ where, reason: err.message });
      return;
    }
    if (stub === undefined) return;
    const ex = stubToExchange(stub, service, now + out.length);
    if (typeof ex === 'string') skip({ where, reason: ex });
    else out.push(ex);
  });
  return out;
}

function looksJson(headers: HeaderPairs, body: string): unknown {
  const ct = headers.find(([k]) => k.toLowerCase() === 'content-type')?.[1] ?? '';
  if (!/\bjson\b/i.test(ct) && !/^\s*[[{]/.test(body)) return undefined;
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}

/** Response fields WireMock computes or that apply to one connection (RFC 9110 §7.6.1). */
const DROPPED_RESPONSE_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'date']);

/** One WireMock mapping for an HTTP exchange with a response, or undefined. */
export function exchangeToWireMockMapping(ex: HttpExchange): Json | undefined {
  const { request, response } = ex.http;
  if (response === null) return undefined;
  const u = new URL(request.url.startsWith('/') ? request.url : `/${request.url}`, 'http://x');
  const names = [...u.searchParams.keys()];
  const req: Json = { method: request.method };
  if (new Set(names).size !== names.length) {
    // WireMock's queryParameters is a map: repeated names keep the exact url instead.
    req.url = u.pathname + u.search;
  } else {
    req.urlPath = u.pathname;
    if (names.length > 0) req.queryParameters = Object.fromEntries([...u.searchParams].map(([k, v]) => [k, { equalTo: v }]));
  }
  if (request.body !== '') {
    const json = request.bodyEncoding === 'utf8' ? looksJson(request.headers, request.body) : undefined;
    if (json !== undefined) req.bodyPatterns = [{ equalToJson: json }];
    else if (request.bodyEncoding === 'utf8') req.bodyPatterns = [{ equalTo: request.body }];
  }
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of response.headers) {
    if (DROPPED_RESPONSE_HEADERS.has(k.toLowerCase())) continue;
    const prev = headers[k];
    headers[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  const res: Json = { status: response.status };
  if (Object.keys(headers).length > 0) res.headers = headers;
  if (response.bodyEncoding === 'base64') res.base64Body = decodeBody(response.body, 'base64').toString('base64');
  else if (response.body !== '') res.body = response.body;
  return { id: randomUUID(), name: `${ex.service} ${request.method} ${u.pathname}`, request: req, response: res, metadata: { doppel: { id: ex.id, service: ex.service, direction: ex.direction } } };
}
