/**
 * Sends a recorded (replay) or just-seen (shadow) gRPC call again on one
 * HTTP/2 session: the call's metadata (grpc-timeout included: a deadline is
 * part of the call) and the same messages, each its own frame. The answer is
 * read whole and lifted with the record path's conversion, so both sides are
 * judged alike. A call not done within `timeoutMs` is cancelled and fails
 * with code TIMEOUT, whatever part of the answer came.
 */
import { connect, constants, type ClientHttp2Session } from 'node:http2';
import type { GrpcExchange, GrpcResponseRecord } from '../../core/exchange.js';
import type { TargetTls } from '../../core/tls.js';
import { encodeFrame } from './framing.js';
import { grpcEndpoint, grpcExchangeFrom } from './grpc-exchange.js';
import { onRawHeaders, pairsToHeaders } from './metadata.js';
import type { HeaderPairs } from '../../core/exchange.js';
import { errorCodeOf } from '../../core/peer-failure.js';
import { requestWithLeanAsyncBind } from '../../core/lean-async-bind.js';

export type GrpcSendResult =
  | { ok: true; response: GrpcResponseRecord; durationMs: number }
  | { ok: false; error: { code: string; message: string } };

export interface GrpcSender {
  /** `metadata`: what to send instead of the recorded metadata (replay.headers set over it) */
  send(ex: GrpcExchange, metadata?: HeaderPairs): Promise<GrpcSendResult>;
  close(): Promise<void>;
}

export function createGrpcSender(opts: { target: string; tls?: TargetTls | undefined; timeoutMs: number; now: () => number }): GrpcSender {
  let session: ClientHttp2Session | undefined;
  const authority = new URL(opts.target).host;
  const sessionFor = (): ClientHttp2Session => {
    if (session !== undefined && !session.closed && !session.destroyed) return session;
    const t = opts.tls;
    const s = connect(opts.target, t === undefined ? {} : { ca: t.ca, cert: t.cert, key: t.key, rejectUnauthorized: t.rejectUnauthorized, ALPNProtocols: ['h2'] });
    s.on('error', () => {
      // each stream on it fails with the reason
    });
    session = s;
    return s;
  };
  return {
    send(ex, metadata = ex.grpc.request.metadata) {
      return new Promise((resolve) => {
        const path = grpcEndpoint(ex);
        const t0 = opts.now();
        let stream;
        try {
          stream = requestWithLeanAsyncBind(sessionFor(), {
            ...pairsToHeaders(metadata),
            [constants.HTTP2_HEADER_METHOD]: 'POST',
            [constants.HTTP2_HEADER_PATH]: path,
            [constants.HTTP2_HEADER_AUTHORITY]: authority,
            te: 'trailers',
          });
        } catch (err) {
          resolve({ ok: false, error: { code: 'UNAVAILABLE', message: (err as Error).message } });
          return;
        }
        let headers: HeaderPairs | undefined;
        let trailers: HeaderPairs = [];
        const chunks: Buffer[] = [];
        onRawHeaders(stream, 'response', (p) => (headers = p));
        onRawHeaders(stream, 'trailers', (p) => (trailers = p));
        stream.on('data', (c: Buffer) => chunks.push(c));
        let failure: { code: string; message: string } | undefined;
        let isTimedOut = false;
        const timer = setTimeout(() => {
          isTimedOut = true;
          failure = { code: 'TIMEOUT', message: `no whole answer within ${opts.timeoutMs} ms` };
          stream.close(constants.NGHTTP2_CANCEL);
        }, opts.timeoutMs);
        stream.on('error', (err: NodeJS.ErrnoException) => (failure ??= { code: errorCodeOf(err.cause ?? err) ?? 'ERROR', message: ((err.cause as Error | undefined) ?? err).message }));
        stream.on('close', () => {
          clearTimeout(timer);
          if (headers === undefined || isTimedOut) {
            resolve({ ok: false, error: failure ?? { code: 'NO_RESPONSE', message: `stream closed without a response (HTTP/2 error ${stream.rstCode})` } });
            return;
          }
          const lifted = grpcExchangeFrom({
            path,
            requestHeaders: [],
            requestBody: [],
            responseHeaders: headers,
            responseBody: chunks,
            trailers,
            envelope: { id: ex.id, session: ex.session, parent: null, direction: 'inbound', service: ex.service, startedAt: new Date(), durationMs: 0 },
          });
          resolve({ ok: true, response: lifted.grpc.response as GrpcResponseRecord, durationMs: opts.now() - t0 });
        });
        for (const m of ex.grpc.request.messages) stream.write(encodeFrame(Buffer.from(m, 'base64')));
        stream.end();
      });
    },
    close() {
      return new Promise<void>((resolve) => {
        // A session its connection failed is destroyed, not closed: close() would wait for a 'close' already emitted.
        if (session === undefined || session.closed || session.destroyed) resolve();
        else session.close(() => resolve());
      });
    },
  };
}
