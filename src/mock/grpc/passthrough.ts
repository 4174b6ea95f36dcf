/**
 * gRPC mock passthrough (mocks[].target, `--grpc-dep NAME=LISTEN,TARGET`):
 * a call no stub or recording answers goes to the real dependency on one
 * HTTP/2 session. The request was read whole to be matched, so it goes out
 * as received; the answer is relayed as it comes — headers, each DATA chunk,
 * trailers, resets — so a server stream stays a stream. The finished call
 * becomes an outbound exchange: the live index learns it (the next identical
 * call matches) and, like the HTTP mock's passthrough, it is recorded.
 */
import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { GrpcExchange, HeaderPairs } from '../../core/exchange.js';
import { newExchangeId } from '../../core/ids.js';
import type { Logger } from '../../core/logger.js';
import { errorCodeOf, peerFailureReason } from '../../core/peer-failure.js';
import type { Redactor } from '../../core/redact.js';
import type { TargetTls } from '../../core/tls.js';
import type { Metrics } from '../../metrics/metrics.js';
import { grpcExchangeFrom } from '../../protocols/grpc/grpc-exchange.js';
import { onRawHeaders, pairsToHeaders } from '../../protocols/grpc/metadata.js';
import { encodeGrpcMessage, GrpcStatus } from '../../protocols/grpc/status.js';
import type { ExchangeWriter } from '../../store/types.js';

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
    const copy = { chunks: [] as Buffer[], bytes: 0, isTruncated: false };
    let resHeaders: HeaderPairs | undefined;
    let trailers: HeaderPairs = [];
    let error: { code: string; message: string } | undefined;
    let isDone = false;
    let isClientGone = false;
    let isFailed = false;

    const upstreamFailed = (err: Error): void => {
      if (isFailed) return;
      isFailed = true;
      const cause = (err.cause as Error | undefined) ?? err;
      error ??= { code: errorCodeOf(cause) ?? 'UPSTREAM_ERROR', message: cause.message };
      if (!isClientGone) failures.inc({ service: opts.service, reason: peerFailureReason(cause) });
      failCall(stream, GrpcStatus.UNAVAILABLE, `doppel mock: passthrough to ${opts.target} failed: ${cause.message}`);
    };

    const finish = (): void => {
      if (isDone) return;
      isDone = true;
      const id = newExchangeId(startedAt.getTime());
      const ex = grpcExchangeFrom({
        path,
        requestHeaders: requestPairs,
        requestBody,
        responseHeaders: resHeaders,
        responseBody: copy.chunks,
        responseTruncated: copy.isTruncated,
        trailers,
        ...(error === undefined ? {} : { error }),
        envelope: { id, session: id, parent: null, direction: 'outbound', service: opts.service, startedAt, durationMs: performance.now() - t0, tags: { source: 'mock-passthrough' } },
      });
      if (error === undefined && ex.grpc.response !== null && !ex.grpc.response.truncated && !ex.grpc.request.truncated) opts.onLearned(ex);
      record(ex);
    };

    let up: ClientHttp2Stream;
    try {
      up = sessionFor().request({
        ...pairsToHeaders(requestPairs),
        [constants.HTTP2_HEADER_METHOD]: 'POST',
        [constants.HTTP2_HEADER_PATH]: path,
        [constants.HTTP2_HEADER_AUTHORITY]: targetUrl.host,
        [constants.HTTP2_HEADER_SCHEME]: scheme,
        te: 'trailers',
      });
    } catch (err) {
      upstreamFailed(err as Error);
      finish();
      return;
    }
    // A target that accepts and never answers would hold the call past any use: bounded to the head.
    const headTimer = setTimeout(() => {
      upstreamFailed(Object.assign(new Error(`no response headers within ${opts.headersTimeoutMs} ms`), { code: 'DOPPEL_UPSTREAM_TIMEOUT' }));
      up.close(constants.NGHTTP2_CANCEL);
    }, opts.headersTimeoutMs);

    onRawHeaders(up, 'response', (pairs) => {
      resHeaders = pairs;
    });
    up.on('response', (_h, flags: number) => {
      clearTimeout(headTimer);
      if (stream.destroyed || stream.headersSent) return;
      const status = Number(resHeaders?.find(([k]) => k === ':status')?.[1] ?? 200);
      const headers: OutgoingHttpHeaders = { ...pairsToHeaders(resHeaders ?? []), [constants.HTTP2_HEADER_STATUS]: status };
      // Trailers-Only: the status came in the headers block with END_STREAM.
      const isEnd = (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0;
      stream.respond(headers, isEnd ? { endStream: true } : { waitForTrailers: true });
    });
    onRawHeaders(up, 'trailers', (pairs) => {
      trailers = pairs;
    });
    stream.on('wantTrailers', () => {
      const out = pairsToHeaders(trailers);
      // A target that ends without a status would leave the client guessing (PROTOCOL-HTTP2.md: Status is required).
      if (out['grpc-status'] === undefined) Object.assign(out, { 'grpc-status': String(GrpcStatus.INTERNAL), 'grpc-message': encodeGrpcMessage(`doppel mock: ${opts.target} ended the call without a grpc-status`) });
      stream.sendTrailers(out);
    });
    up.on('data', (chunk: Buffer) => {
      if (copy.bytes + chunk.length <= opts.maxBodyBytes) {
        copy.chunks.push(chunk);
        copy.bytes += chunk.length;
      } else copy.isTruncated = true;
      if (!stream.destroyed && !stream.write(chunk)) {
        up.pause();
        stream.once('drain', () => up.resume());
      }
    });
    up.on('end', () => {
      if (!stream.destroyed && stream.headersSent && !stream.writableEnded) stream.end();
    });
    up.on('error', (err: Error) => {
      clearTimeout(headTimer);
      if (!stream.headersSent) upstreamFailed(err);
      else error ??= { code: errorCodeOf(err) ?? 'UPSTREAM_ERROR', message: err.message };
    });
    up.on('close', () => {
      clearTimeout(headTimer);
      if (up.rstCode !== constants.NGHTTP2_NO_ERROR && !isFailed && !stream.destroyed) {
        // A reset after the answer began is a reset for the client too; before it, a status says why.
        if (stream.headersSent) stream.close(up.rstCode);
        else if (!isClientGone) upstreamFailed(new Error(`${opts.target} reset the stream (HTTP/2 error ${up.rstCode})`));
        error ??= { code: 'UPSTREAM_RESET', message: `target reset the stream (HTTP/2 error ${up.rstCode})` };
      }
      finish();
    });
    stream.on('close', () => {
      // A client that cancels (RST_STREAM CANCEL, as grpc-js does at its deadline) cancels upstream.
      if (!up.closed) {
        isClientGone = true;
        error ??= { code: 'CANCELLED', message: `client reset the stream (HTTP/2 error ${stream.rstCode})` };
        up.close(constants.NGHTTP2_CANCEL);
      }
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
