/**
 * The exchange: the one record every stage produces or consumes.
 * Shape is the v1 contract of DESIGN.md ("One data model: the exchange").
 */

import { isUtf8 } from 'node:buffer';

export const EXCHANGE_FORMAT_VERSION = 1;

export type Direction = 'inbound' | 'outbound';
export type Protocol = 'http' | 'pg' | 'grpc';
export type BodyEncoding = 'utf8' | 'base64';

/** Ordered header pairs, case as sent, duplicates kept. */
export type HeaderPairs = Array<[string, string]>;

/** The HTTP version an exchange was spoken in; absent in recordings made before HTTP/2 means "1.1". */
export type HttpVersion = '1.1' | '2';

export interface HttpRequestRecord {
  method: string;
  /** path + query, as sent on the request line (HTTP/2: the :path pseudo-header) */
  url: string;
  /** HTTP/2's :authority pseudo-header (RFC 9113 §8.3.1); HTTP/1.1 carries it in Host */
  authority?: string;
  headers: HeaderPairs;
  body: string;
  bodyEncoding: BodyEncoding;
  truncated: boolean;
}

export interface HttpResponseRecord {
  status: number;
  headers: HeaderPairs;
  trailers?: HeaderPairs;
  body: string;
  bodyEncoding: BodyEncoding;
  truncated: boolean;
}

export interface HttpPayload {
  /** "1.1" or "2"; absent means "1.1" */
  version?: HttpVersion;
  request: HttpRequestRecord;
  /** null when no response arrived (upstream down, reset, timeout) */
  response: HttpResponseRecord | null;
  /** why no response arrived, when it did not */
  error?: { code: string; message: string };
}

/** A binary cell or parameter: base64 of the raw bytes. */
export interface B64Value {
  b64: string;
}
/** Text cells are strings, binary cells base64 objects, NULL is null. */
export type PgValue = string | B64Value | null;

export interface PgField {
  name: string;
  tableOid: number;
  column: number;
  typeOid: number;
  typeSize: number;
  typeMod: number;
  format: number;
}

export interface PgResult {
  fields: PgField[];
  rows: PgValue[][];
  command: string | null;
  /** true when an Execute row limit suspended the portal (PortalSuspended) */
  suspended?: boolean;
}

export interface PgErrorFields {
  code: string;
  message: string;
  severity?: string;
  detail?: string;
  hint?: string;
  position?: string;
  schema?: string;
  table?: string;
  column?: string;
  dataType?: string;
  constraint?: string;
  [field: string]: string | undefined;
}

export type TxStatus = 'I' | 'T' | 'E';

export interface PgQueryRequest {
  kind: 'simple' | 'extended';
  sql: string;
  statement?: string;
  params?: PgValue[];
  paramTypes?: number[];
  resultFormats?: number[];
}

export interface PgStartupRequest {
  kind: 'startup';
  /** startup parameters as sent (user, database, application_name, ...) */
  parameters: Record<string, string>;
  protocolVersion: string;
  /** authentication method the server asked for: trust, cleartext, md5, scram-sha-256, ... */
  auth: string;
}

export interface PgQueryResponse {
  results: PgResult[];
  error: PgErrorFields | null;
  notices: PgErrorFields[];
  txStatus: TxStatus;
}

export interface PgStartupResponse {
  /** ParameterStatus set sent by the server, in order */
  parameterStatus: Array<[string, string]>;
  backendKey?: { processId: number; secretKey: number };
  error: PgErrorFields | null;
  results?: never;
  txStatus?: TxStatus;
}

export type PgPayload =
  | { connection: string; seq: number; request: PgQueryRequest; response: PgQueryResponse }
  | { connection: string; seq: number; request: PgStartupRequest; response: PgStartupResponse };

export interface ExchangeBase {
  v: typeof EXCHANGE_FORMAT_VERSION;
  id: string;
  session: string;
  parent: string | null;
  direction: Direction;
  service: string;
  startedAt: string;
  durationMs: number;
  tags: Record<string, string>;
}

export interface HttpExchange extends ExchangeBase {
  protocol: 'http';
  http: HttpPayload;
}

export interface PgExchange extends ExchangeBase {
  protocol: 'pg';
  pg: PgPayload;
}

/** One `google.protobuf.Any` of a status's details: its type URL and base64 of its bytes. */
export interface GrpcAnyRecord {
  typeUrl: string;
  value: string;
}

/** The `google.rpc.Status` carried in `grpc-status-details-bin`, decoded. */
export interface GrpcStatusDetails {
  code: number;
  message: string;
  details: GrpcAnyRecord[];
}

export interface GrpcRequestRecord {
  /** request headers minus pseudo-headers and transport headers; `-bin` values stay base64 as sent */
  metadata: HeaderPairs;
  /** base64 of each length-prefixed message, decompressed, in order */
  messages: string[];
  truncated: boolean;
}

export interface GrpcResponseRecord {
  metadata: HeaderPairs;
  messages: string[];
  /** grpc-status (0 OK ... 16 UNAUTHENTICATED) */
  status: number;
  /** grpc-message, percent-decoded */
  message: string;
  /** grpc-status-details-bin, decoded, when sent */
  details?: GrpcStatusDetails;
  /** trailers minus grpc-status, grpc-message and grpc-status-details-bin */
  trailers: HeaderPairs;
  truncated: boolean;
}

export interface GrpcPayload {
  /** `package.Service` */
  service: string;
  method: string;
  request: GrpcRequestRecord;
  /** null when no response arrived (upstream down, reset) */
  response: GrpcResponseRecord | null;
  error?: { code: string; message: string };
}

export interface GrpcExchange extends ExchangeBase {
  protocol: 'grpc';
  grpc: GrpcPayload;
}

export type Exchange = HttpExchange | PgExchange | GrpcExchange;

export function isHttpExchange(ex: Exchange): ex is HttpExchange {
  return ex.protocol === 'http';
}

/** The version an HTTP exchange was recorded in ("1.1" for recordings that predate the field). */
export function httpVersionOf(ex: HttpExchange): HttpVersion {
  return ex.http.version === '2' ? '2' : '1.1';
}

export function isPgExchange(ex: Exchange): ex is PgExchange {
  return ex.protocol === 'pg';
}

export function isGrpcExchange(ex: Exchange): ex is GrpcExchange {
  return ex.protocol === 'grpc';
}

/** Encode a body: text when valid UTF-8, base64 otherwise (DESIGN.md). */
export function encodeBody(buf: Buffer): { body: string; bodyEncoding: BodyEncoding } {
  if (buf.length === 0) return { body: '', bodyEncoding: 'utf8' };
  // isUtf8 is exact (rejects overlongs and lone surrogates), unlike a decode round trip.
  if (isUtf8(buf)) return { body: buf.toString('utf8'), bodyEncoding: 'utf8' };
  return { body: buf.toString('base64'), bodyEncoding: 'base64' };
}

export function decodeBody(body: string, encoding: BodyEncoding): Buffer {
  return encoding === 'base64' ? Buffer.from(body, 'base64') : Buffer.from(body, 'utf8');
}
