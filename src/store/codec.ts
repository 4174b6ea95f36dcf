import { DoppelError } from '../core/errors.js';
import { EXCHANGE_FORMAT_VERSION, type Exchange } from '../core/exchange.js';

export function encodeExchange(ex: Exchange): string {
  return JSON.stringify(ex);
}

export type DecodeResult = { ok: true; exchange: Exchange } | { ok: false; reason: string };

/**
 * Decodes one NDJSON line. A line from a newer major format version is not
 * "corrupt": reading on would silently misread it, so it throws naming the
 * source and the version (DESIGN.md: unknown major version -> clear error).
 */
export function decodeExchangeLine(line: string, source: string, lineNo: number): DecodeResult {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    return { ok: false, reason: `not JSON (${(err as Error).message})` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { ok: false, reason: 'not a JSON object' };
  const rec = value as Record<string, unknown>;
  if (typeof rec.v !== 'number') return { ok: false, reason: 'no format version "v"' };
  if (Math.trunc(rec.v) !== EXCHANGE_FORMAT_VERSION) {
    throw new DoppelError(
      'DOPPEL_STORE_VERSION',
      `${source}:${lineNo}: exchange format version ${rec.v} is not supported (this doppel reads version ${EXCHANGE_FORMAT_VERSION})`,
    );
  }
  if (typeof rec.id !== 'string' || rec.id === '') return { ok: false, reason: 'no "id"' };
  if (rec.protocol === 'http') {
    if (rec.http === null || typeof rec.http !== 'object') return { ok: false, reason: 'http exchange without "http" payload' };
    const version = (rec.http as { version?: unknown }).version;
    if (version !== undefined && version !== '1.1' && version !== '2') return { ok: false, reason: `http.version ${JSON.stringify(version)} is not "1.1" or "2"` };
  } else if (rec.protocol === 'pg') {
    if (rec.pg === null || typeof rec.pg !== 'object') return { ok: false, reason: 'pg exchange without "pg" payload' };
  } else if (rec.protocol === 'grpc') {
    const reason = grpcPayloadProblem(rec.grpc);
    if (reason !== undefined) return { ok: false, reason };
  } else {
    return { ok: false, reason: `unknown protocol ${JSON.stringify(rec.protocol)}` };
  }
  if (rec.direction !== 'inbound' && rec.direction !== 'outbound') return { ok: false, reason: 'no valid "direction"' };
  return { ok: true, exchange: value as Exchange };
}

/** Enough shape checking that a consumer can index the payload without guarding every field. */
function grpcPayloadProblem(payload: unknown): string | undefined {
  if (payload === null || typeof payload !== 'object') return 'grpc exchange without "grpc" payload';
  const g = payload as Record<string, unknown>;
  if (typeof g.service !== 'string' || typeof g.method !== 'string') return 'grpc exchange without "service" and "method"';
  const req = g.request as Record<string, unknown> | null | undefined;
  if (req === null || typeof req !== 'object' || !Array.isArray(req.messages) || !Array.isArray(req.metadata)) {
    return 'grpc exchange without "request.metadata" and "request.messages"';
  }
  const res = g.response as Record<string, unknown> | null | undefined;
  if (res === null) return undefined;
  if (typeof res !== 'object' || !Array.isArray(res.messages) || !Array.isArray(res.metadata) || typeof res.status !== 'number') {
    return 'grpc exchange "response" without "metadata", "messages" and a numeric "status"';
  }
  return undefined;
}
