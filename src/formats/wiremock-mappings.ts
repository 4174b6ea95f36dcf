/**
 * WireMock stub mappings (https://wiremock.org/docs/stubbing/) on disk: where
 * an import finds them, and the export of exchanges as mappings. The import
 * itself is wiremock-import.ts. Export writes one mapping per HTTP exchange
 * that got a response.
 */
import { randomUUID } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { DoppelError } from '../core/errors.js';
import { decodeBody, type HeaderPairs, type HttpExchange } from '../core/exchange.js';

type Json = Record<string, unknown>;

/** The mapping files of an import and the `__files` folder their `bodyFileName`s name. */
export interface WireMockInput {
  files: string[];
  filesDir: string;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function jsonFilesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.json'))
    .map((e) => join(e.parentPath, e.name))
    .sort((a, b) => relative(dir, a).localeCompare(relative(dir, b)));
}

/**
 * FILE, or WireMock's root layout DIR/mappings/**\/*.json (WireMock loads
 * subfolders too) with bodies in DIR/__files, or a folder of *.json files. A
 * file or folder inside `mappings/` takes its `__files` from the folder above.
 */
export async function wireMockInput(path: string): Promise<WireMockInput> {
  let st;
  try {
    st = await stat(path);
  } catch (cause) {
    throw new DoppelError('DOPPEL_INPUT_INVALID', `${path}: cannot read it (${(cause as Error).message})`, { cause });
  }
  const rootOf = (dir: string) => (basename(dir) === 'mappings' ? dirname(dir) : dir);
  if (!st.isDirectory()) return { files: [path], filesDir: join(rootOf(dirname(path)), '__files') };
  const hasMappings = await isDirectory(join(path, 'mappings'));
  const dir = hasMappings ? join(path, 'mappings') : path;
  const files = await jsonFilesUnder(dir);
  if (files.length === 0) throw new DoppelError('DOPPEL_INPUT_INVALID', `${path}: no WireMock mapping files (*.json) found`);
  return { files, filesDir: join(hasMappings ? path : rootOf(path), '__files') };
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
  const target = request.url.startsWith('/') ? request.url : `/${request.url}`;
  // Appended, not resolved against a base: a target such as //a is a path here, not a host.
  const u = new URL(`http://x${target}`);
  const names = [...u.searchParams.keys()];
  const req: Json = { method: request.method };
  // WireMock's queryParameters is a map of decoded values: repeated names, a
  // name without "=", or an encoding the import would write differently
  // (%20 vs +) cannot come back byte for byte, so those keep the exact url.
  const isSplittable = new Set(names).size === names.length && u.pathname + u.search === target && u.searchParams.toString() === u.search.slice(1);
  if (!isSplittable) {
    req.url = target;
  } else {
    req.urlPath = u.pathname;
    if (names.length > 0) req.queryParameters = Object.fromEntries([...u.searchParams].map(([k, v]) => [k, { equalTo: v }]));
  }
  if (request.body !== '') {
    const json = request.bodyEncoding === 'utf8' ? looksJson(request.headers, request.body) : undefined;
    if (json !== undefined) req.bodyPatterns = [{ equalToJson: json }];
    else if (request.bodyEncoding === 'utf8') req.bodyPatterns = [{ equalTo: request.body }];
    // WireMock's binaryEqualTo takes base64, so a binary body is kept as well.
    else req.bodyPatterns = [{ binaryEqualTo: request.body }];
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
