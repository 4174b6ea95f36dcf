/**
 * gRPC mock passthrough (mocks[].target, `--grpc-dep NAME=LISTEN,TARGET`):
 * a call no stub or recording answers goes to the real dependency on one
 * HTTP/2 session. The request was read whole to be matched, so it goes out
 * as received; the answer is relayed as it comes by the record path's relay
 * (protocols/grpc/relay.ts) — headers, each DATA chunk, trailers, resets —
 * so a server stream stays a stream. The finished call
 * becomes an outbound exchange: the live index learns it (the next identical
 * call matches) and, like the HTTP mock's passthrough, it is recorded.
 */
import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type ServerHttp2Stream } from 'node:http2';
import type { GrpcExchange, HeaderPairs } from '../../core/exchange.js';
import { newExchangeId } from '../../core/ids.js';
import type { Logger } from '../../core/logger.js';
import { errorCodeOf, peerFailureReason } from '../../core/peer-failure.js';
import type { Redactor } from '../../core/redact.js';
import type { TargetTls } from '../../core/tls.js';
import type { Metrics } from '../../metrics/metrics.js';
import { grpcExchangeFrom } from '../../protocols/grpc/grpc-exchange.js';
import { pairsToHeaders } from '../../protocols/grpc/metadata.js';
import { relayGrpcAnswer, type RelayedAnswer } from '../../protocols/grpc/relay.js';
import { encodeGrpcMessage, GrpcStatus } from '../../protocols/grpc/status.js';
import type { ExchangeWriter } from '../../store/types.js';
import { requestWithLeanAsyncBind } from '../../core/lean-async-bind.js';

export interface GrpcRecordTo {
  writer: ExchangeWriter;
  redactor: Redactor;
}

export interface GrpcPassthroughOptions {
  service: string;
  /** `http://host:port` (h2c) or `https://host:port` (h2 over TLS) */
  target: string;
  targetTls?: TargetTls | undefined;
  /** most time to the target's response headers (mocks[].target_timeout) */
  headersTimeoutMs: number;
  /** bytes of each side kept for the exchange; past it the call still flows, the record is marked truncated */
  maxBodyBytes: number;
  recordTo?: GrpcRecordTo | undefined;
  /** a whole, untruncated answer: the mock's index learns it */
  onLearned(ex: GrpcExchange): void;
  metrics: Metrics;
  log: Logger;
}

export interface GrpcPassthrough {
  /** forwards one call whose request was read whole */
  forward(stream: ServerHttp2Stream, requestPairs: HeaderPairs, path: string, requestBody: readonly Buffer[]): void;
  close(): Promise<void>;
}

/** Trailers-Only answer: a status without messages, as gRPC servers send errors. */
function failCall(stream: ServerHttp2Stream, status: number, message: string): void {
  if (stream.destroyed || stream.headersSent) return;
  stream.respond(
    { [constants.HTTP2_HEADER_STATUS]: 200, 'content-type': 'application/grpc', 'grpc-status': String(status), 'grpc-message': encodeGrpcMessage(message) },
    { endStream: true },
  );
}

export function createGrpcPassthrough(opts: GrpcPassthroughOptions): GrpcPassthrough {
  const log = opts.log.child({ component: 'grpc-mock-passthrough', service: opts.service });
  const targetUrl = new URL(opts.target);
  const scheme = targetUrl.protocol === 'https:' ? 'https' : 'http';
  const failures = opts.metrics.upstreamFailures;
  const passCounter = opts.metrics.mockRequests.labels(opts.service, 'grpc', 'passthrough');
  let session: ClientHttp2Session | undefined;

  const sessionFor = (): ClientHttp2Session => {
    if (session !== undefined && !session.closed && !session.destroyed) return session;
    const t = opts.targetTls;
    const s = connect(opts.target, t === undefined ? {} : { ca: t.ca, cert: t.cert, key: t.key, rejectUnauthorized: t.rejectUnauthorized, ALPNProtocols: ['h2'] });
    // Each stream on the session fails with the cause; the session's own error is only logged.
    s.on('error', (err) => log.debug({ err, target: opts.target }, 'grpc passthrough session failed'));
    s.on('close', () => {
      if (session === s) session = undefined;
    });
    session = s;
    return s;
  };

  const record = (ex: GrpcExchange): void => {
    const rt = opts.recordTo;
    if (rt === undefined) return;
    const stored: GrpcExchange = {
      ...ex,
      grpc: {
        ...ex.grpc,
        request: { ...ex.grpc.request, metadata: rt.redactor.headers(ex.grpc.request.metadata) },
        response: ex.grpc.response === null ? null : { ...ex.grpc.response, metadata: rt.redactor.headers(ex.grpc.response.metadata) },
      },
    };
    rt.writer.append(stored).then(
      () => opts.metrics.exchangesRecorded.inc({ service: opts.service, direction: 'outbound', protocol: 'grpc' }),
      (err: unknown) => {
        opts.metrics.recordDropped.inc({ reason: 'store_error' });
        log.error({ err }, 'cannot record passthrough exchange');
      },
    );
  };

  function forward(stream: ServerHttp2Stream, requestPairs: HeaderPairs, path: string, requestBody: readonly Buffer[]): void {
    passCounter.inc();
    const startedAt = new Date();
    const t0 = performance.now();
    const answerUnavailable = (cause: Error): void =>
      failCall(stream, GrpcStatus.UNAVAILABLE, `doppel mock: passthrough to ${opts.target} failed: ${cause.message}`);

    const finish = (answer: RelayedAnswer): void => {
      const error = answer.error;
      // A client that cancelled is no failure of the target's.
      if (error !== undefined && error.code !== 'CANCELLED') {
        failures.inc({ service: opts.service, reason: error.code === 'UPSTREAM_RESET' ? 'reset' : peerFailureReason({ code: error.code }) });
      }
      const id = newExchangeId(startedAt.getTime());
      const ex = grpcExchangeFrom({
        path,
        requestHeaders: requestPairs,
        requestBody,
        responseHeaders: answer.headers,
        responseBody: answer.body,
        responseTruncated: answer.isTruncated,
        trailers: answer.trailers,
        ...(error === undefined ? {} : { error }),
        envelope: { id, session: id, parent: null, direction: 'outbound', service: opts.service, startedAt, durationMs: performance.now() - t0, tags: { source: 'mock-passthrough' } },
      });
      if (error === undefined && ex.grpc.response !== null && !ex.grpc.response.truncated && !ex.grpc.request.truncated) opts.onLearned(ex);
      record(ex);
    };

    let up: ClientHttp2Stream;
    try {
      up = requestWithLeanAsyncBind(sessionFor(), {
        ...pairsToHeaders(requestPairs),
        [constants.HTTP2_HEADER_METHOD]: 'POST',
        [constants.HTTP2_HEADER_PATH]: path,
        [constants.HTTP2_HEADER_AUTHORITY]: targetUrl.host,
        [constants.HTTP2_HEADER_SCHEME]: scheme,
        te: 'trailers',
      });
    } catch (err) {
      const cause = err as Error;
      answerUnavailable(cause);
      finish({ headers: undefined, trailers: [], body: [], isTruncated: false, error: { code: errorCodeOf(cause) ?? 'UPSTREAM_ERROR', message: cause.message } });
      return;
    }
    // A target that accepts and never answers would hold the call past any use: bounded to the head.
    const headTimer = setTimeout(() => {
      up.destroy(Object.assign(new Error(`no response headers within ${opts.headersTimeoutMs} ms`), { code: 'DOPPEL_UPSTREAM_TIMEOUT' }));
    }, opts.headersTimeoutMs);
    up.once('response', () => clearTimeout(headTimer));
    up.once('close', () => clearTimeout(headTimer));
    relayGrpcAnswer(up, stream, {
      maxBodyBytes: opts.maxBodyBytes,
      onFailedBeforeAnswer: answerUnavailable,
      // PROTOCOL-HTTP2.md: Status is required; a target that ends without one would leave the client guessing.
      missingStatus: { status: GrpcStatus.INTERNAL, message: `doppel mock: ${opts.target} ended the call without a grpc-status` },
      onDone: finish,
    });
    for (const chunk of requestBody) up.write(chunk);
    up.end();
  }

  return {
    forward,
    close: () =>
      new Promise<void>((resolve) => {
        const s = session;
        // A session destroyed by a failed connect never calls a close callback.
        if (s === undefined || s.closed || s.destroyed) resolve();
        else s.close(() => resolve());
      }),
  };
}
