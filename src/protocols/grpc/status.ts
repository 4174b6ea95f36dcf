/**
 * gRPC status: codes (grpc/doc/statuscodes.md), the percent-encoded
 * `grpc-message` and the `grpc-status-details-bin` trailer, a serialized
 * `google.rpc.Status` (googleapis google/rpc/status.proto).
 */
import protobuf from 'protobufjs';
import type { GrpcStatusDetails } from '../../core/exchange.js';

export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

const NAMES = Object.fromEntries(Object.entries(GrpcStatus).map(([k, v]) => [v, k])) as Record<number, string>;

export function grpcStatusName(code: number): string {
  return NAMES[code] ?? `CODE_${code}`;
}

const statusRoot = protobuf.Root.fromJSON({
  nested: {
    google: {
      nested: {
        protobuf: { nested: { Any: { fields: { type_url: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } } } },
        rpc: {
          nested: {
            Status: {
              fields: {
                code: { type: 'int32', id: 1 },
                message: { type: 'string', id: 2 },
                details: { rule: 'repeated', type: 'google.protobuf.Any', id: 3 },
              },
            },
          },
        },
      },
    },
  },
});
const StatusType = statusRoot.lookupType('google.rpc.Status');

interface DecodedStatus {
  code?: number;
  message?: string;
  details?: Array<{ type_url?: string; value?: Uint8Array }>;
}

/** The value of grpc-status-details-bin (base64, padding optional) as a Status; undefined when it does not decode. */
export function decodeStatusDetails(b64: string): GrpcStatusDetails | undefined {
  try {
    const s = StatusType.toObject(StatusType.decode(Buffer.from(b64, 'base64')), { defaults: true }) as DecodedStatus;
    return {
      code: s.code ?? 0,
      message: s.message ?? '',
      details: (s.details ?? []).map((d) => ({ typeUrl: d.type_url ?? '', value: Buffer.from(d.value ?? new Uint8Array()).toString('base64') })),
    };
  } catch {
    return undefined;
  }
}

/** grpc-status-details-bin for a Status, base64 without padding as grpc-js sends it. */
export function encodeStatusDetails(s: GrpcStatusDetails): string {
  const msg = StatusType.fromObject({
    code: s.code,
    message: s.message,
    details: s.details.map((d) => ({ type_url: d.typeUrl, value: Buffer.from(d.value, 'base64') })),
  });
  return Buffer.from(StatusType.encode(msg).finish()).toString('base64').replace(/=+$/, '');
}

/** grpc-message is percent-encoded UTF-8 (PROTOCOL-HTTP2.md "Status-Message"); a bad escape is kept as sent. */
export function decodeGrpcMessage(raw: string | undefined): string {
  if (raw === undefined || raw === '') return '';
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** Percent-encodes what PROTOCOL-HTTP2.md requires: anything outside printable ASCII and '%'. */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    if (byte >= 0x20 && byte <= 0x7e && byte !== 0x25) out += String.fromCharCode(byte);
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
