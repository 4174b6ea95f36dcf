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

export interface Statement {
  sql: string;
  declaredTypes: number[];
  describedTypes?: number[];
  fields?: PgField[];
}

export interface Portal {
  ex: PendingQuery;
  statement: Statement;
}

export type Unit =
  | { k: 'query'; ex: PendingQuery }
  | { k: 'parse'; name: string; statement: Statement; at: number }
  | { k: 'bind'; portal: Portal }
  | { k: 'describe'; target: 'S' | 'P'; statement: Statement | undefined; portal: Portal | undefined }
  | { k: 'execute'; portal: Portal | undefined }
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
