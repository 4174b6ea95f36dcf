/**
 * WireMock-style gRPC stubs in JSON, served before recordings:
 *
 *   { "mappings": [ {
 *       "request":  { "method": "/shop.v1.Orders/GetOrder", "equalToJson": { "id": "o-1" } },
 *       "response": { "json": { "order": { "id": "o-1" } }, "metadata": { "x-stub": "1" } } },
 *     { "request":  { "method": "/shop.v1.Orders/GetOrder" },
 *       "response": { "status": "NOT_FOUND", "message": "no such order" } } ] }
 *
 * `equalToJson` matches the (first) request message as ProtoJSON; without it
 * any request of the method matches. `json` is one response message,
 * `messages` a list (server streaming). Messages are encoded with the
 * descriptors, so stubs need them (grpc.descriptors, grpc.protos or reflection).
 */
import { readFileSync } from 'node:fs';
import type { GrpcResponseRecord } from '../../core/exchange.js';
import { DoppelError } from '../../core/errors.js';
import type { GrpcDescriptors } from '../../protocols/grpc/descriptors.js';
import { GrpcStatus } from '../../protocols/grpc/status.js';
import { jsonDifferences } from './grpc-mock-index.js';

export interface GrpcStub {
  path: string;
  equalToJson: unknown;
  response: GrpcResponseRecord;
  /** file#mappings[i], for logs */
  source: string;
}

export interface GrpcStubs {
  readonly size: number;
  /** the first stub of the method whose equalToJson equals the request, or undefined */
  find(path: string, requestJson: () => unknown): GrpcStub | undefined;
}

function lineOf(text: string, err: unknown): string {
  const m = /position (\d+)/.exec((err as Error).message);
  if (m === null) return '';
  const pos = Number(m[1]);
  return `:${text.slice(0, pos).split('\n').length}`;
}

function statusOf(v: unknown, where: string): number {
  if (v === undefined) return GrpcStatus.OK;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 16) return v;
  if (typeof v === 'string' && v in GrpcStatus) return GrpcStatus[v as keyof typeof GrpcStatus];
  throw new Error(`${where}.status: expected a gRPC code 0..16 or its name (OK, NOT_FOUND, ...), got ${JSON.stringify(v)}`);
}

function metadataOf(v: unknown, where: string): Array<[string, string]> {
  if (v === undefined) return [];
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${where}: expected a map of names to strings`);
  return Object.entries(v as Record<string, unknown>).map(([k, val]) => {
    if (typeof val !== 'string') throw new Error(`${where}.${k}: expected a string`);
    return [k.toLowerCase(), val];
  });
}

export function loadGrpcStubs(files: readonly string[], descriptors: GrpcDescriptors | undefined): GrpcStubs {
  const stubs: GrpcStub[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new DoppelError('DOPPEL_INPUT_INVALID', `${file}: cannot read gRPC stubs: ${(err as Error).message}`, { cause: err });
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new DoppelError('DOPPEL_INPUT_INVALID', `${file}${lineOf(text, err)}: gRPC stubs are not JSON: ${(err as Error).message}`, { cause: err });
    }
    const mappings = (doc as { mappings?: unknown } | null)?.mappings;
    if (!Array.isArray(mappings)) throw new DoppelError('DOPPEL_INPUT_INVALID', `${file}: expected { "mappings": [ ... ] }`);
    if (descriptors === undefined) {
      throw new DoppelError('DOPPEL_INPUT_INVALID', `${file}: gRPC stubs are JSON and need descriptors to become messages: set grpc.descriptors, grpc.protos or grpc.reflection`);
    }
    mappings.forEach((m: unknown, i) => {
      const where = `mappings[${i}]`;
      try {
        const req = (m as { request?: Record<string, unknown> }).request ?? {};
        const res = (m as { response?: Record<string, unknown> }).response ?? {};
        const path = typeof req.method === 'string' ? req.method : typeof req.service === 'string' && typeof req.rpc === 'string' ? `/${req.service}/${req.rpc}` : undefined;
        if (path === undefined) throw new Error(`${where}.request.method: expected "/package.Service/Method"`);
        const schema = descriptors.method(path);
        if (schema === undefined) throw new Error(`${where}.request.method: the descriptors define no ${path} (known: ${descriptors.methods().slice(0, 5).join(', ')})`);
        if (req.equalToJson !== undefined) descriptors.fromJson(schema.requestType, req.equalToJson);
        const jsons: unknown[] = res.messages !== undefined ? (Array.isArray(res.messages) ? res.messages : [res.messages]) : res.json !== undefined ? [res.json] : [];
        const messages = jsons.map((j, k) => {
          try {
            return descriptors.fromJson(schema.responseType, j).toString('base64');
          } catch (err) {
            throw new Error(`${where}.response message ${k}: ${(err as Error).message}`, { cause: err });
          }
        });
        stubs.push({
          path,
          equalToJson: req.equalToJson,
          source: `${file}#${where}`,
          response: {
            metadata: [['content-type', 'application/grpc'], ...metadataOf(res.metadata, `${where}.response.metadata`)],
            messages,
            status: statusOf(res.status, `${where}.response`),
            message: typeof res.message === 'string' ? res.message : '',
            trailers: metadataOf(res.trailers, `${where}.response.trailers`),
            truncated: false,
          },
        });
      } catch (err) {
        throw new DoppelError('DOPPEL_INPUT_INVALID', `${file}: ${(err as Error).message}`, { cause: err });
      }
    });
  }
  return {
    size: stubs.length,
    find(path, requestJson) {
      let json: unknown;
      let isRead = false;
      for (const s of stubs) {
        if (s.path !== path) continue;
        if (s.equalToJson === undefined) return s;
        if (!isRead) {
          json = requestJson();
          isRead = true;
        }
        if (json !== undefined && jsonDifferences(s.equalToJson, json).length === 0) return s;
      }
      return undefined;
    },
  };
}
