/**
 * The exchange a recorded HTTP request becomes, chosen by its content type.
 * Protocols that ride on HTTP/2 (gRPC: `application/grpc`, `application/grpc+proto`,
 * ...) are recorded through the same proxy but stored as their own exchange;
 * a converter takes the finished HTTP exchange (bodies encoded, headers and
 * trailers redacted, `http.version` "2") and returns that exchange. Without
 * a matching converter the HTTP exchange is stored as it is.
 */
import type { Exchange, HttpExchange } from '../core/exchange.js';

export interface ExchangeConverter {
  /** lower-case prefix of the request's Content-Type this converter takes, e.g. `application/grpc` */
  readonly contentType: string;
  convert(ex: HttpExchange): Exchange;
}

function contentTypeOf(ex: HttpExchange): string | undefined {
  for (const [k, v] of ex.http.request.headers) if (k.length === 12 && k.toLowerCase() === 'content-type') return v.toLowerCase();
  return undefined;
}

/** The converter for this exchange (the longest matching prefix), or undefined: store it as HTTP. */
export function converterFor(converters: readonly ExchangeConverter[] | undefined, ex: HttpExchange): ((ex: HttpExchange) => Exchange) | undefined {
  if (converters === undefined || converters.length === 0) return undefined;
  const type = contentTypeOf(ex);
  if (type === undefined) return undefined;
  let best: ExchangeConverter | undefined;
  for (const c of converters) if (type.startsWith(c.contentType) && (best === undefined || c.contentType.length > best.contentType.length)) best = c;
  return best === undefined ? undefined : (e) => best.convert(e);
}
