/**
 * Recorded gRPC calls by `/package.Service/Method`, then by the exact
 * request messages. Calls with the same request answer in recorded order,
 * the last one repeating. A call whose messages match no recording is
 * explained with the nearest recorded request of the same method: as JSON
 * paths when descriptors exist, as bytes otherwise.
 */
import type { GrpcExchange } from '../../core/exchange.js';
import { grpcEndpoint } from '../../protocols/grpc/grpc-exchange.js';
import { messageAsJson, type GrpcDescriptors } from '../../protocols/grpc/descriptors.js';
import { appendTo } from '../../core/multimap.js';

export interface GrpcMiss {
  kind: 'no-method' | 'no-request';
  /** what the client sees as grpc-message */
  message: string;
  nearest?: { id: string; request: unknown; differs: string[] };
}

export type GrpcLookup = { ok: true; exchange: GrpcExchange } | { ok: false; miss: GrpcMiss };

export interface GrpcMockIndex {
  add(ex: GrpcExchange): void;
  readonly size: number;
  lookup(path: string, messages: readonly Buffer[]): GrpcLookup;
  reset(): void;
}

function keyOf(messages: readonly string[]): string {
  return messages.join(',');
}

export function createGrpcMockIndex(service: string, descriptors: GrpcDescriptors | undefined): GrpcMockIndex {
  const byPath = new Map<string, Map<string, GrpcExchange[]>>();
  const cursors = new Map<string, number>();
  let size = 0;

  const asJson = (path: string, messages: readonly string[]): unknown[] | undefined => {
    const out: unknown[] = [];
    for (const m of messages) {
      const r = messageAsJson(descriptors, path, 'request', Buffer.from(m, 'base64'));
      if (!('json' in r)) return undefined;
      out.push(r.json);
    }
    return out;
  };

  const explain = (path: string, calls: Map<string, GrpcExchange[]>, messages: readonly string[]): GrpcMiss => {
    const wanted = asJson(path, messages);
    let best: { ex: GrpcExchange; differs: string[] } | undefined;
    for (const list of calls.values()) {
      const ex = list[0] as GrpcExchange;
      const recorded = asJson(path, ex.grpc.request.messages);
      const differs =
        wanted !== undefined && recorded !== undefined
          ? jsonDifferences(recorded.length === 1 ? recorded[0] : recorded, wanted.length === 1 ? wanted[0] : wanted)
          : ['request bytes (no descriptors for this method: messages compared as bytes)'];
      if (best === undefined || differs.length < best.differs.length) best = { ex, differs };
    }
    const nearest = best as { ex: GrpcExchange; differs: string[] };
    const shown = asJson(path, nearest.ex.grpc.request.messages) ?? nearest.ex.grpc.request.messages;
    return {
      kind: 'no-request',
      message: `doppel mock: no recorded ${path} call of ${service} with this request; nearest recording ${nearest.ex.id} differs at ${nearest.differs.slice(0, 5).join(', ')}`,
      nearest: { id: nearest.ex.id, request: shown.length === 1 ? shown[0] : shown, differs: nearest.differs },
    };
  };

  return {
    add(ex) {
      const path = grpcEndpoint(ex);
      let calls = byPath.get(path);
      if (calls === undefined) byPath.set(path, (calls = new Map<string, GrpcExchange[]>()));
      appendTo(calls, keyOf(ex.grpc.request.messages), ex);
      size++;
    },
    get size() {
      return size;
    },
    lookup(path, messages) {
      const calls = byPath.get(path);
      if (calls === undefined) {
        return { ok: false, miss: { kind: 'no-method', message: `doppel mock: ${service} has no recording or stub of ${path}` } };
      }
      const b64 = messages.map((m) => m.toString('base64'));
      const key = keyOf(b64);
      const list = calls.get(key);
      if (list === undefined) return { ok: false, miss: explain(path, calls, b64) };
      const ck = `${path}\n${key}`;
      const i = cursors.get(ck) ?? 0;
      cursors.set(ck, i + 1);
      return { ok: true, exchange: list[Math.min(i, list.length - 1)] as GrpcExchange };
    },
    reset() {
      cursors.clear();
    },
  };
}

/** Paths (the one grammar) where two JSON trees differ; "$" when the roots differ in kind. */
export function jsonDifferences(a: unknown, b: unknown, path = '$', out: string[] = []): string[] {
  if (a === b) return out;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object' || Array.isArray(a) !== Array.isArray(b)) {
    out.push(path);
    return out;
  }
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    for (let i = 0; i < Math.max(a.length, bb.length); i++) jsonDifferences(a[i], bb[i], `${path}[${i}]`, out);
    return out;
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  for (const k of new Set([...Object.keys(ao), ...Object.keys(bo)])) jsonDifferences(ao[k], bo[k], /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`, out);
  return out;
}
