/**
 * The gRPC pair kind of the judge: a recorded (or live) gRPC answer and the
 * candidate's, lifted to the samples the one comparator walks.
 *
 * - status: the grpc-status code;
 * - headers: response metadata and trailers (compare.headers picks which);
 * - body: with descriptors, the messages as ProtoJSON — one message is the
 *   root, so rules read `$.order.total`; a stream is an array, `$[*].total`.
 *   Without descriptors, the messages' bytes, and a flag says why.
 *
 * grpc-message and the status details are judged beside the comparator
 * (paths `grpc-message` and `grpc-status-details`), unless ignored as
 * `header:grpc-message` / `header:grpc-status-details-bin`.
 */
import type { FieldDiff, ResponseSample } from '../compare/types.js';
import type { GrpcResponseRecord, HeaderPairs } from '../core/exchange.js';
import { messageAsJson, type GrpcDescriptors } from '../protocols/grpc/descriptors.js';
import { encodeFrames } from '../protocols/grpc/framing.js';

export interface GrpcSide {
  response: GrpcResponseRecord;
  durationMs?: number;
}

export interface GrpcSamples {
  baseline: ResponseSample;
  candidate: ResponseSample;
  /** judged beside the comparator: grpc-message, status details */
  extraDiffs: FieldDiff[];
  /** why messages were compared as bytes, when they were */
  flags: string[];
}

function lift(path: string, r: GrpcResponseRecord, descriptors: GrpcDescriptors | undefined, isStream: boolean): { body: Buffer; isJson: boolean; reason?: string } {
  const raw = r.messages.map((m) => Buffer.from(m, 'base64'));
  const json: unknown[] = [];
  for (const m of raw) {
    const j = messageAsJson(descriptors, path, 'response', m);
    if (!('json' in j)) return { body: encodeFrames(raw), isJson: false, reason: j.reason };
    json.push(j.json);
  }
  if (json.length === 0) return { body: Buffer.alloc(0), isJson: true };
  return { body: Buffer.from(JSON.stringify(isStream || json.length !== 1 ? json : json[0])), isJson: true };
}

function headersOf(r: GrpcResponseRecord, isJson: boolean): HeaderPairs {
  const out: HeaderPairs = r.metadata.filter(([k]) => k.toLowerCase() !== 'content-type');
  out.push(...r.trailers);
  out.push(['content-type', isJson ? 'application/json' : 'application/grpc']);
  return out;
}

export function grpcSamples(
  path: string,
  baseline: GrpcSide,
  candidate: GrpcSide,
  descriptors: GrpcDescriptors | undefined,
  ignoredHeaders: ReadonlySet<string> = new Set(),
): GrpcSamples {
  const isStream = descriptors?.method(path)?.isResponseStream === true;
  const a = lift(path, baseline.response, descriptors, isStream);
  const b = lift(path, candidate.response, descriptors, isStream);
  const flags: string[] = [];
  const reason = a.reason ?? b.reason;
  // Both lifted or neither: one side as JSON and the other as bytes would never match.
  const isJson = a.isJson && b.isJson;
  if (!isJson && reason !== undefined) flags.push(`grpc-messages-as-bytes: ${reason}`);
  const bodyA = isJson ? a.body : encodeFrames(baseline.response.messages.map((m) => Buffer.from(m, 'base64')));
  const bodyB = isJson ? b.body : encodeFrames(candidate.response.messages.map((m) => Buffer.from(m, 'base64')));
  const extraDiffs: FieldDiff[] = [];
  if (!ignoredHeaders.has('grpc-message') && baseline.response.message !== candidate.response.message) {
    extraDiffs.push({ path: 'grpc-message', kind: 'header', expected: baseline.response.message, actual: candidate.response.message });
  }
  const da = JSON.stringify(baseline.response.details ?? null);
  const db = JSON.stringify(candidate.response.details ?? null);
  if (!ignoredHeaders.has('grpc-status-details-bin') && da !== db) {
    extraDiffs.push({ path: 'grpc-status-details', kind: 'header', expected: baseline.response.details ?? null, actual: candidate.response.details ?? null });
  }
  return {
    baseline: { status: baseline.response.status, headers: headersOf(baseline.response, isJson), body: bodyA, isDecoded: true, ...(baseline.durationMs === undefined ? {} : { durationMs: baseline.durationMs }) },
    candidate: { status: candidate.response.status, headers: headersOf(candidate.response, isJson), body: bodyB, isDecoded: true, ...(candidate.durationMs === undefined ? {} : { durationMs: candidate.durationMs }) },
    extraDiffs,
    flags,
  };
}
