/**
 * What an HTTP/2 gRPC call becomes on disk: a pure conversion from the
 * stream's headers, DATA and trailers to an exchange with protocol "grpc"
 * (DESIGN.md "Protocols"). Any h2 path that sees `application/grpc`
 * (the gRPC capture server, a generic h2 proxy) calls this one function.
 */
import {
  EXCHANGE_FORMAT_VERSION,
  type Direction,
  type GrpcExchange,
  type GrpcResponseRecord,
  type HeaderPairs,
} from '../../core/exchange.js';
import { decodeFrames, frameMessage, type GrpcFrame } from './framing.js';
import { headerValue, splitGrpcPath, STATUS_TRAILERS, withoutPseudo } from './metadata.js';
import { decodeGrpcMessage, decodeStatusDetails, GrpcStatus } from './status.js';

export interface GrpcEnvelope {
  id: string;
  session: string;
  parent: string | null;
  direction: Direction;
  /** who answered (the recorded service or dependency name) */
  service: string;
  startedAt: Date;
  durationMs: number;
  tags?: Record<string, string>;
}

export interface GrpcExchangeInput {
  /** the :path pseudo-header, `/package.Service/Method` */
  path: string;
  requestHeaders: HeaderPairs;
  requestBody: Buffer | readonly Buffer[];
  requestTruncated?: boolean;
  /** undefined when no response headers arrived */
  responseHeaders: HeaderPairs | undefined;
  responseBody: Buffer | readonly Buffer[];
  responseTruncated?: boolean;
  /** empty for a Trailers-Only response (status in the headers) */
  trailers: HeaderPairs;
  /** why the call ended without a response */
  error?: { code: string; message: string };
  envelope: GrpcEnvelope;
}

/**
 * HTTP status to gRPC code when a response has no grpc-status
 * (grpc/doc/http-grpc-status-mapping.md).
 */
export function grpcStatusFromHttp(status: number): number {
  switch (status) {
    case 200:
      return GrpcStatus.UNKNOWN;
    case 400:
      return GrpcStatus.INTERNAL;
    case 401:
      return GrpcStatus.UNAUTHENTICATED;
    case 403:
      return GrpcStatus.PERMISSION_DENIED;
    case 404:
      return GrpcStatus.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcStatus.UNAVAILABLE;
    default:
      return GrpcStatus.UNKNOWN;
  }
}

function joined(body: Buffer | readonly Buffer[]): Buffer {
  if (Buffer.isBuffer(body)) return body;
  const parts = body;
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
}

/** base64 of each whole message; a compressed one that fails to decode is kept as sent. */
function messagesOf(body: Buffer, encoding: string | undefined): { messages: string[]; isCut: boolean } {
  const { frames, trailingBytes } = decodeFrames(body, Number.MAX_SAFE_INTEGER);
  return { messages: frames.map((f) => safeMessage(f, encoding).toString('base64')), isCut: trailingBytes > 0 };
}

function safeMessage(f: GrpcFrame, encoding: string | undefined): Buffer {
  try {
    return frameMessage(f, encoding);
  } catch {
    return f.data;
  }
}

export function grpcExchangeFrom(input: GrpcExchangeInput): GrpcExchange {
  const { service, method } = splitGrpcPath(input.path);
  const reqMeta = withoutPseudo(input.requestHeaders);
  const req = messagesOf(joined(input.requestBody), headerValue(reqMeta, 'grpc-encoding'));
  let response: GrpcResponseRecord | null = null;
  if (input.responseHeaders !== undefined) {
    const headers = input.responseHeaders;
    const resMeta = withoutPseudo(headers);
    // Trailers-Only: status, message and details come in the headers block.
    const statusSource = headerValue(input.trailers, 'grpc-status') !== undefined ? input.trailers : resMeta;
    const rawStatus = headerValue(statusSource, 'grpc-status');
    const httpStatus = Number(headerValue(headers, ':status') ?? '200');
    const status = rawStatus !== undefined && /^\d+$/.test(rawStatus) ? Number(rawStatus) : grpcStatusFromHttp(httpStatus);
    const detailsRaw = headerValue(statusSource, 'grpc-status-details-bin');
    const details = detailsRaw === undefined ? undefined : decodeStatusDetails(detailsRaw);
    const res = messagesOf(joined(input.responseBody), headerValue(resMeta, 'grpc-encoding'));
    const metadata = statusSource === resMeta ? resMeta.filter(([k]) => !STATUS_TRAILERS.has(k.toLowerCase())) : resMeta;
    response = {
      metadata,
      messages: res.messages,
      status,
      message: decodeGrpcMessage(headerValue(statusSource, 'grpc-message')),
      ...(details === undefined ? {} : { details }),
      trailers: withoutPseudo(input.trailers).filter(([k]) => !STATUS_TRAILERS.has(k.toLowerCase())),
      truncated: input.responseTruncated === true || res.isCut,
    };
  }
  const env = input.envelope;
  return {
    v: EXCHANGE_FORMAT_VERSION,
    id: env.id,
    session: env.session,
    parent: env.parent,
    direction: env.direction,
    service: env.service,
    protocol: 'grpc',
    startedAt: env.startedAt.toISOString(),
    durationMs: Math.round(env.durationMs * 1000) / 1000,
    grpc: {
      service,
      method,
      request: { metadata: reqMeta, messages: req.messages, truncated: input.requestTruncated === true || req.isCut },
      response,
      ...(input.error === undefined ? {} : { error: input.error }),
    },
    tags: env.tags ?? {},
  };
}

/** `/package.Service/Method`: the endpoint label and the mock key of a gRPC exchange. */
export function grpcEndpoint(ex: GrpcExchange): string {
  return ex.grpc.service === '' ? ex.grpc.method : `/${ex.grpc.service}/${ex.grpc.method}`;
}
