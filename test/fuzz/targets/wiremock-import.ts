/** The WireMock importer: mapping files in, exchanges, stubs and skip reasons out; and export -> import. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import fc from 'fast-check';
import { encodeBody, type HeaderPairs, type HttpExchange } from '../../../src/core/exchange.js';
import type { SkippedRecord } from '../../../src/formats/import-report.js';
import { importWireMock } from '../../../src/formats/wiremock-import.js';
import { exchangeToWireMockMapping } from '../../../src/formats/wiremock-mappings.js';
import { decodeExchangeLine } from '../../../src/store/codec.js';
import type { FuzzTarget } from '../fuzz-run.js';

export interface WireMockImport {
  exchanges: HttpExchange[];
  stubs: unknown[];
  skipped: SkippedRecord[];
}

/** Imports one mappings file holding `text`. */
export async function importMappingsText(text: string): Promise<WireMockImport> {
  const dir = await mkdtemp(join(tmpdir(), 'doppel-fuzz-wiremock-'));
  try {
    const file = join(dir, 'mappings.json');
    await writeFile(file, text);
    const out: WireMockImport = { exchanges: [], stubs: [], skipped: [] };
    const stubs: Array<Record<string, unknown>> = [];
    for await (const ex of importWireMock({ files: [file], filesDir: join(dir, '__files') }, { service: 'svc', skip: (s) => out.skipped.push(s), stubs, now: 1_700_000_000_000 })) out.exchanges.push(ex);
    out.stubs = stubs;
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Any file: nothing is thrown, every exchange is one the store reads back, every skip names where. */
export async function checkMappingsText(text: string): Promise<void> {
  const got = await importMappingsText(text);
  got.exchanges.forEach((ex, i) => expect(decodeExchangeLine(JSON.stringify(ex), 'x', i + 1).ok).toBe(true));
  for (const s of got.skipped) expect(s.reason.length).toBeGreaterThan(0);
}

export const wireMockTarget: FuzzTarget = { name: 'wiremock-import', ext: 'json', check: (input) => checkMappingsText(input.toString('utf8')) };

/** What an export keeps of an exchange and an import gives back. */
function essentials(ex: HttpExchange) {
  const { request, response } = ex.http;
  const isJson = (body: string) => {
    try {
      return { json: JSON.parse(body) as unknown };
    } catch {
      return { text: body };
    }
  };
  const dropped = /^(content-length|transfer-encoding|connection|keep-alive|date)$/i;
  return {
    method: request.method,
    url: request.url,
    requestBody: request.bodyEncoding === 'utf8' ? isJson(request.body) : { b64: request.body },
    status: response?.status,
    // A mapping's headers are an object keyed by name: a name's values keep
    // their order, but lines of different names may come back regrouped, which
    // HTTP allows (RFC 9110 §5.3), so they are compared grouped by name.
    responseHeaders: (response?.headers ?? []).filter(([k]) => !dropped.test(k)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    responseBody: response === null ? undefined : { body: response.body, bodyEncoding: response.bodyEncoding },
  };
}

/** An exchange exported as a mapping imports back as the same request and response. */
export async function checkExportRoundTrip(ex: HttpExchange): Promise<void> {
  const mapping = exchangeToWireMockMapping(ex);
  if (mapping === undefined) return;
  const got = await importMappingsText(JSON.stringify(mapping));
  expect(got.skipped).toEqual([]);
  expect(got.exchanges.map(essentials)).toEqual([essentials(ex)]);
}

/** Inputs are exchanges (JSON) to export and import back. */
export const wireMockExportTarget: FuzzTarget = { name: 'wiremock-export', ext: 'json', check: (input) => checkExportRoundTrip(JSON.parse(input.toString('utf8')) as HttpExchange) };

const headerName = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,8}$/);
const bodyBytes = fc.oneof(
  fc.string({ maxLength: 20 }).map((s) => Buffer.from(s, 'utf8')),
  fc.jsonValue({ maxDepth: 2 }).map((v) => Buffer.from(JSON.stringify(v, null, 1), 'utf8')),
  fc.uint8Array({ maxLength: 12 }).map((a) => Buffer.from(a)),
);

export const exchangeArb: fc.Arbitrary<HttpExchange> = fc
  .record({
    method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'),
    path: fc.stringMatching(/^\/[a-z0-9/._~-]{0,12}$/),
    query: fc.array(fc.tuple(fc.stringMatching(/^[a-z]{1,3}$/), fc.string({ maxLength: 4 })), { maxLength: 3 }),
    rawQuery: fc.option(fc.constantFrom('?a', '?a=b%20c', '?x=1&x=2', '?q=a+b', '?=', '?a=%7e')),
    requestBody: bodyBytes,
    status: fc.integer({ min: 200, max: 599 }),
    headers: fc.array(fc.tuple(headerName, fc.string({ maxLength: 6 })), { maxLength: 3 }),
    responseBody: bodyBytes,
  })
  .map((r) => {
    const qs = r.rawQuery ?? (r.query.length === 0 ? '' : `?${new URLSearchParams(r.query).toString()}`);
    const headers: HeaderPairs = r.headers;
    return {
      v: 1,
      id: '01J00000000000000000000000',
      session: 's',
      parent: null,
      direction: 'outbound',
      service: 'svc',
      protocol: 'http',
      startedAt: '2026-01-01T00:00:00.000Z',
      durationMs: 0,
      tags: {},
      http: {
        request: { method: r.method, url: `${r.path}${qs}`, headers: [], ...encodeBody(r.method === 'GET' ? Buffer.alloc(0) : r.requestBody), truncated: false },
        response: { status: r.status, headers, ...encodeBody(r.responseBody), truncated: false },
      },
    } satisfies HttpExchange;
  });

export const mappingTextArb = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  exchangeArb.map((ex) => JSON.stringify({ mappings: [exchangeToWireMockMapping(ex)] })),
  fc.string({ maxLength: 40 }),
);
