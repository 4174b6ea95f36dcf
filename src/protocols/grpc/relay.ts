/**
 * Relays a gRPC server's answer to the client stream that asked, as it
 * comes: the response headers (or a Trailers-Only block), each DATA chunk
 * with backpressure, the trailers, and resets either way — a target's reset
 * is the client's reset, a client's cancel (RST_STREAM CANCEL, as grpc-js
 * sends at its deadline) cancels the target's call. A bounded copy of the
 * answer is kept for the exchange. The record path's gRPC relay and the gRPC
 * mock's passthrough both answer through here; they differ only in how the
 * request reaches the target and in what a failure before any answer says.
 */
import { constants, type ClientHttp2Stream, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { HeaderPairs } from '../../core/exchange.js';
import { errorCodeOf } from '../../core/peer-failure.js';
import { onRawHeaders, pairsToHeaders } from './metadata.js';
import { encodeGrpcMessage } from './status.js';

export interface RelayedAnswer {
  /** the target's response headers as received (pseudo-headers included); undefined when none came */
  headers: HeaderPairs | undefined;
  trailers: HeaderPairs;
  /** the answer's DATA, up to maxBodyBytes */
  body: Buffer[];
  isTruncated: boolean;
  /** why the call did not end cleanly */
  error: { code: string; message: string } | undefined;
}

export interface GrpcRelayOptions {
  /** bytes of the answer kept; past it the answer still flows and isTruncated is set */
  maxBodyBytes: number;
  /**
   * The target failed before its headers (refused, reset, a deadline of the caller's):
   * the caller answers the client and counts it. Not called once the client is gone.
   */
  onFailedBeforeAnswer(cause: Error): void;
  /** sent instead of trailers that carry no grpc-status; without it the trailers go as they came */
  missingStatus?: { status: number; message: string } | undefined;
  /** both streams are closed: once */
  onDone(answer: RelayedAnswer): void;
}

export function relayGrpcAnswer(up: ClientHttp2Stream, down: ServerHttp2Stream, o: GrpcRelayOptions): void {
  const answer: RelayedAnswer = { headers: undefined, trailers: [], body: [], isTruncated: false, error: undefined };
  let kept = 0;
  let hasFailed = false;
  let isDone = false;

  const fail = (err: Error): void => {
    // A stream that never got its session says why in its cause (connect ECONNREFUSED, ...).
    const cause = (err.cause as Error | undefined) ?? err;
    answer.error ??= { code: errorCodeOf(cause) ?? 'UPSTREAM_ERROR', message: cause.message };
    if (hasFailed || down.headersSent || down.destroyed) return;
    hasFailed = true;
    o.onFailedBeforeAnswer(cause);
  };
  const done = (): void => {
    if (isDone) return;
    isDone = true;
    o.onDone(answer);
  };

  onRawHeaders(up, 'response', (pairs) => {
    answer.headers = pairs;
  });
  up.on('response', (_h, flags: number) => {
    if (down.destroyed || down.headersSent) return;
    const status = Number(answer.headers?.find(([k]) => k === ':status')?.[1] ?? 200);
    const headers: OutgoingHttpHeaders = { ...pairsToHeaders(answer.headers ?? []), [constants.HTTP2_HEADER_STATUS]: status };
    // Trailers-Only: the status came in the headers block with END_STREAM.
    const isEnd = (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    down.respond(headers, isEnd ? { endStream: true } : { waitForTrailers: true });
  });
  onRawHeaders(up, 'trailers', (pairs) => {
    answer.trailers = pairs;
  });
  down.on('wantTrailers', () => {
    const out = pairsToHeaders(answer.trailers);
    if (out['grpc-status'] === undefined && o.missingStatus !== undefined) {
      Object.assign(out, { 'grpc-status': String(o.missingStatus.status), 'grpc-message': encodeGrpcMessage(o.missingStatus.message) });
    }
    down.sendTrailers(out);
  });
  up.on('data', (chunk: Buffer) => {
    if (kept + chunk.length <= o.maxBodyBytes) {
      answer.body.push(chunk);
      kept += chunk.length;
    } else answer.isTruncated = true;
    if (!down.destroyed && !down.write(chunk)) {
      up.pause();
      down.once('drain', () => up.resume());
    }
  });
  up.on('end', () => {
    if (!down.destroyed && down.headersSent && !down.writableEnded) down.end();
  });
  up.on('error', fail);
  up.on('close', () => {
    if (up.rstCode !== constants.NGHTTP2_NO_ERROR && !down.destroyed) {
      answer.error ??= { code: 'UPSTREAM_RESET', message: `upstream reset the stream (HTTP/2 error ${up.rstCode})` };
      // A reset after the answer began is a reset for the client too; before it, the caller's status says why.
      if (down.headersSent && !hasFailed) down.close(up.rstCode);
      else fail(new Error(`the target reset the stream (HTTP/2 error ${up.rstCode})`));
    }
    if (down.closed) done();
  });
  down.on('close', () => {
    if (down.rstCode !== constants.NGHTTP2_NO_ERROR && !up.closed) {
      answer.error ??= { code: 'CANCELLED', message: `client reset the stream (HTTP/2 error ${down.rstCode})` };
      up.close(constants.NGHTTP2_CANCEL);
    }
    if (up.closed) done();
  });
}
