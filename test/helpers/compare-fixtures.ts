import { Value } from '@sinclair/typebox/value';
import { CompareSchema, type CompareConfig } from '../../src/config/schema.js';
import { resolveCompare, type ResolvedCompare } from '../../src/config/resolve.js';
import type { ResponseSample } from '../../src/compare/types.js';

/** A compare section with the schema's defaults under the given keys, resolved as config/ resolves it. */
export function compareConfig(partial: Partial<CompareConfig> = {}): ResolvedCompare {
  return resolveCompare(Value.Default(CompareSchema, Value.Clone(partial)) as CompareConfig);
}

export function jsonResponse(body: unknown, status = 200, headers: Array<[string, string]> = []): ResponseSample {
  return {
    status,
    headers: [['Content-Type', 'application/json; charset=utf-8'], ...headers],
    body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
  };
}

export function textResponse(body: string | Buffer, contentType = 'text/plain', status = 200): ResponseSample {
  return { status, headers: [['content-type', contentType]], body: Buffer.isBuffer(body) ? body : Buffer.from(body) };
}
