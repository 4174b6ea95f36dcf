/**
 * gRPC metadata is the HTTP/2 header list minus pseudo-headers. Binary
 * metadata (`-bin` keys) travels base64 on the wire (PROTOCOL-HTTP2.md
 * "Custom-Metadata") and is kept as that text, so a recording stays JSON.
 */
import type { HeaderPairs } from '../../core/exchange.js';

/** Header pairs from node:http2's flat raw header list ([name, value, name, value, ...]). */
export function pairsFromRaw(raw: readonly string[]): HeaderPairs {
  const out: HeaderPairs = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i] as string, raw[i + 1] as string]);
  return out;
}

export function headerValue(pairs: readonly (readonly [string, string])[], name: string): string | undefined {
  for (const [k, v] of pairs) if (k.toLowerCase() === name) return v;
  return undefined;
}

export function withoutPseudo(pairs: HeaderPairs): HeaderPairs {
  return pairs.filter(([k]) => !k.startsWith(':'));
}

/** Trailers that carry the status: recorded as status, message and details, not as metadata. */
export const STATUS_TRAILERS: ReadonlySet<string> = new Set(['grpc-status', 'grpc-message', 'grpc-status-details-bin']);

/**
 * Metadata that belongs to one connection or one sender, not to the call:
 * never sent again on replay and never judged. `grpc-timeout` is replayed
 * (a deadline is part of the call) but not judged.
 */
export const TRANSPORT_METADATA: ReadonlySet<string> = new Set(['te', 'content-length', 'connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'host']);

export function isBinaryKey(name: string): boolean {
  return name.toLowerCase().endsWith('-bin');
}

/** Split `/package.Service/Method`; anything else leaves the service empty. */
export function splitGrpcPath(path: string): { service: string; method: string } {
  const m = /^\/([^/]+)\/([^/?]+)$/.exec(path);
  if (m === null) return { service: '', method: path };
  return { service: m[1] as string, method: m[2] as string };
}

/** A header object for node:http2 from pairs; repeated names keep every value. */
export function pairsToHeaders(pairs: readonly (readonly [string, string])[], skip: ReadonlySet<string> = TRANSPORT_METADATA): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of pairs) {
    const key = k.toLowerCase();
    if (key.startsWith(':') || skip.has(key)) continue;
    const prev = out[key];
    if (prev === undefined) out[key] = v;
    else if (Array.isArray(prev)) prev.push(v);
    else out[key] = [prev, v];
  }
  return out;
}

/**
 * node:http2 passes the raw header list as the third argument of 'response'
 * and 'trailers' (not in @types/node 20): the only order- and duplicate-keeping view.
 */
export function onRawHeaders(emitter: NodeJS.EventEmitter, event: 'response' | 'trailers', listener: (pairs: HeaderPairs) => void): void {
  emitter.on(event, (_headers: unknown, _flags: unknown, raw: unknown) => listener(Array.isArray(raw) ? pairsFromRaw(raw as string[]) : []));
}
