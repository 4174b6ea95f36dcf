/**
 * The pieces a Postgres record session is built from: what it emits, the
 * state it keeps per statement, portal and expected response, and the
 * conversion of wire values to recorded ones.
 */
import type { PgErrorFields, PgField, PgPayload, PgQueryRequest, PgResult, PgValue } from '../../core/exchange.js';

export interface RecordedPg {
  payload: PgPayload;
  /** wall-clock ms of the first message of the exchange */
  startedAt: number;
  durationMs: number;
  tags: Record<string, string>;
}

export interface PendingQuery {
  request: PgQueryRequest;
  results: PgResult[];
  current: PgResult | undefined;
  error: PgErrorFields | null;
  notices: PgErrorFields[];
  startedAt: number;
  /** where an extended-protocol error happened: parse, bind, describe, execute */
  errorPhase?: string;
  fields?: PgField[];
}

export interface RecordedStatement {
  sql: string;
  declaredTypes: number[];
  describedTypes?: number[];
  fields?: PgField[];
}

export interface RecordedPortal {
  ex: PendingQuery;
  statement: RecordedStatement;
}

export type Unit =
  | { k: 'query'; ex: PendingQuery }
  | { k: 'parse'; name: string; statement: RecordedStatement; at: number }
  | { k: 'bind'; portal: RecordedPortal }
  | { k: 'describe'; target: 'S' | 'P'; statement: RecordedStatement | undefined; portal: RecordedPortal | undefined }
  | { k: 'execute'; portal: RecordedPortal | undefined }
  | { k: 'close' }
  | { k: 'sync' }
  | { k: 'functionCall' };

export function toPgValue(buf: Buffer | null, format: number): PgValue {
  if (buf === null) return null;
  return format === 0 ? buf.toString('utf8') : { b64: buf.toString('base64') };
}

export function formatAt(formats: readonly number[], i: number): number {
  if (formats.length === 0) return 0;
  if (formats.length === 1) return formats[0] ?? 0;
  return formats[i] ?? 0;
}
