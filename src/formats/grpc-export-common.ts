/**
 * What both gRPC exports need: the request messages of a recorded call as
 * ProtoJSON (descriptors required: a command line or script sends JSON, not
 * bytes) and the metadata worth sending again.
 */
import { isRedactedValue } from '../core/redact.js';
import type { GrpcExchange } from '../core/exchange.js';
import { messageAsJson, type GrpcDescriptors } from '../protocols/grpc/descriptors.js';
import { grpcEndpoint } from '../protocols/grpc/grpc-exchange.js';

/** Metadata the client sets itself, that belongs to one connection, or that grpcurl and k6 set by option. */
const LEFT_OUT = new Set(['content-type', 'te', 'user-agent', 'grpc-accept-encoding', 'grpc-encoding', 'grpc-timeout', 'content-length', 'host', 'accept-encoding']);

export function exportedMetadata(ex: GrpcExchange): Array<[string, string]> {
  return ex.grpc.request.metadata.filter(([k, v]) => !LEFT_OUT.has(k.toLowerCase()) && !isRedactedValue(v)).map(([k, v]) => [k.toLowerCase(), v]);
}

export type ExportedMessages = { ok: true; json: unknown[] } | { ok: false; reason: string };

export function exportedMessages(ex: GrpcExchange, descriptors: GrpcDescriptors | undefined): ExportedMessages {
  const path = grpcEndpoint(ex);
  const json: unknown[] = [];
  for (const m of ex.grpc.request.messages) {
    const r = messageAsJson(descriptors, path, 'request', Buffer.from(m, 'base64'));
    if (!('json' in r)) return { ok: false, reason: r.reason };
    json.push(r.json);
  }
  return { ok: true, json };
}

/** grpc-timeout in seconds (grpcurl -max-time), when the call carried a deadline. */
export function deadlineSeconds(ex: GrpcExchange): number | undefined {
  const v = ex.grpc.request.metadata.find(([k]) => k.toLowerCase() === 'grpc-timeout')?.[1];
  const m = v === undefined ? null : /^(\d{1,8})([HMSmun])$/.exec(v);
  if (m === null) return undefined;
  const unit: Record<string, number> = { H: 3600, M: 60, S: 1, m: 1e-3, u: 1e-6, n: 1e-9 };
  return Number(m[1]) * (unit[m[2] as string] as number);
}
