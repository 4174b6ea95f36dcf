/**
 * gRPC calls that pass through the ordinary HTTP record proxy (a proxy
 * carrying REST and gRPC on one port) are stored as `protocol: "grpc"`
 * exchanges, the same record the gRPC listener writes, so replay, the gRPC
 * mock and judging treat them alike. The proxy has already relayed the call
 * byte for byte; this only re-reads the finished HTTP exchange.
 */
import { decodeBody, type Exchange, type HeaderPairs, type HttpExchange } from '../core/exchange.js';
import { grpcExchangeFrom } from '../protocols/grpc/grpc-exchange.js';
import type { ExchangeConverter } from './exchange-converters.js';
import { CLIENT_CLOSED } from './proxy-handler.js';

/**
 * `application/grpc`, `application/grpc+proto`, `application/grpc;...`
 * (PROTOCOL-HTTP2.md "Content-Type"). gRPC-Web (`application/grpc-web*`)
 * shares the prefix but frames its trailers inside the body: it stays HTTP.
 */
function isGrpcContentType(type: string): boolean {
  const rest = type.slice('application/grpc'.length);
  return rest === '' || rest.startsWith('+') || rest.startsWith(';');
}

function contentTypeOf(headers: HeaderPairs): string {
  for (const [k, v] of headers) if (k.toLowerCase() === 'content-type') return v.trim().toLowerCase();
  return '';
}

/** The path as gRPC names it: the proxy recorded origin-form, a call has no query. */
function grpcPath(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

export function grpcFromHttp(ex: HttpExchange): Exchange {
  const { request, response, error } = ex.http;
  if (!isGrpcContentType(contentTypeOf(request.headers))) return ex;
  // A client that left (a deadline, a cancel) is what the gRPC listener records as CANCELLED.
  const callError = error === undefined ? undefined : error.code === CLIENT_CLOSED ? { code: 'CANCELLED', message: error.message } : error;
  return grpcExchangeFrom({
    path: grpcPath(request.url),
    requestHeaders: request.headers,
    requestBody: decodeBody(request.body, request.bodyEncoding),
    requestTruncated: request.truncated,
    responseHeaders: response === null ? undefined : [[':status', String(response.status)], ...response.headers],
    responseBody: response === null ? [] : decodeBody(response.body, response.bodyEncoding),
    responseTruncated: response?.truncated ?? false,
    trailers: response?.trailers ?? [],
    ...(callError === undefined ? {} : { error: callError }),
    envelope: {
      id: ex.id,
      session: ex.session,
      parent: ex.parent,
      direction: ex.direction,
      service: ex.service,
      startedAt: new Date(ex.startedAt),
      durationMs: ex.durationMs,
      tags: ex.tags,
    },
  });
}

export const grpcExchangeConverter: ExchangeConverter = { contentType: 'application/grpc', convert: grpcFromHttp };
