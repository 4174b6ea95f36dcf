/**
 * Recorded inbound gRPC calls as grpcurl command lines
 * (https://github.com/fullstorydev/grpcurl): one line per call, messages as
 * JSON on -d (several for a client stream), metadata as -H, the deadline as
 * -max-time, against ${GRPC_TARGET}. The schema comes from the protosets or
 * proto directories doppel was given, else from the server's reflection.
 */
import type { GrpcExchange } from '../core/exchange.js';
import type { GrpcDescriptors } from '../protocols/grpc/descriptors.js';
import { deadlineSeconds, exportedMessages, exportedMetadata } from './grpc-export-common.js';

/** POSIX shell single quotes: everything literal, a quote closed, escaped and reopened. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface GrpcurlSchema {
  protosets: readonly string[];
  /** import roots and the .proto files under them, relative to their root */
  protos: ReadonlyArray<{ dir: string; files: readonly string[] }>;
}

export function grpcurlPreamble(): string {
  return [
    '#!/bin/sh',
    '# Recorded gRPC calls, one grpcurl command each. GRPC_TARGET is host:port of the server to call;',
    '# GRPCURL_TLS=-plaintext by default (set it to "" or -insecure for TLS).',
    'set -e',
    ': "${GRPC_TARGET:=127.0.0.1:50051}"',
    ': "${GRPCURL_TLS=-plaintext}"',
    '',
  ].join('\n');
}

export function schemaFlags(schema: GrpcurlSchema): string {
  const out: string[] = [];
  for (const p of schema.protosets) out.push(`-protoset ${shellQuote(p)}`);
  for (const d of schema.protos) {
    out.push(`-import-path ${shellQuote(d.dir)}`);
    for (const f of d.files) out.push(`-proto ${shellQuote(f)}`);
  }
  return out.join(' ');
}

/** One command line, or the reason the call cannot be one. */
export function grpcurlCommand(ex: GrpcExchange, descriptors: GrpcDescriptors | undefined, schema: GrpcurlSchema): { line: string } | { reason: string } {
  const messages = exportedMessages(ex, descriptors);
  if (!messages.ok) return { reason: `grpcurl sends JSON and needs descriptors: ${messages.reason}` };
  const flags = schemaFlags(schema);
  const parts = ['grpcurl', '$GRPCURL_TLS', ...(flags === '' ? [] : [flags])];
  for (const [k, v] of exportedMetadata(ex)) parts.push('-H', shellQuote(`${k}: ${v}`));
  const deadline = deadlineSeconds(ex);
  if (deadline !== undefined) parts.push('-max-time', String(Math.max(deadline, 0.001)));
  parts.push('-d', shellQuote(messages.json.map((j) => JSON.stringify(j)).join('\n')));
  parts.push('"$GRPC_TARGET"', shellQuote(`${ex.grpc.service}/${ex.grpc.method}`));
  return { line: `# ${ex.id} expected ${ex.grpc.response === null ? 'no answer' : `status ${ex.grpc.response.status}`}\n${parts.join(' ')}${ex.grpc.response !== null && ex.grpc.response.status !== 0 ? ' || true' : ''}\n` };
}
