/**
 * The gRPC record path: an HTTP/2 server (h2c prior knowledge, or h2 over
 * TLS) in front of a gRPC server. Every stream is forwarded on one upstream
 * HTTP/2 session as it comes — headers, each DATA chunk, trailers, resets —
 * so streaming calls stay streaming; a copy of the bytes becomes an
 * exchange (protocols/grpc/grpc-exchange.ts) once both sides are done.
 */
import {
  connect,
  constants,
  createSecureServer,
  createServer,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type Http2SecureServer,
  type Http2Server,
  type OutgoingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Direction, HeaderPairs } from '../core/exchange.js';
import { newExchangeId } from '../core/ids.js';
import { listenOn } from '../core/listen.js';
import type { Logger } from '../core/logger.js';
import type { Redactor } from '../core/redact.js';
import type { SessionKeyer } from '../core/sessions.js';
import type { ServerTls, TargetTls } from '../core/tls.js';
import { parseHostPort } from '../core/address.js';
import { grpcExchangeFrom } from '../protocols/grpc/grpc-exchange.js';
import { pairsFromRaw, TRANSPORT_METADATA } from '../protocols/grpc/metadata.js';
import { relayGrpcAnswer, type RelayedAnswer } from '../protocols/grpc/relay.js';
import { encodeGrpcMessage, GrpcStatus } from '../protocols/grpc/status.js';
import type { ExchangeSink } from './exchange-sink.js';
import { requestWithLeanAsyncBind } from '../core/lean-async-bind.js';

export interface GrpcCaptureOptions {
  listen: string;
  /** the flag or config key that moves the listener, for bind errors */
  listenFlag: string;
  /** `http://host:port` (h2c) or `https://host:port` (h2 over TLS) */
  target: string;
  tls?: ServerTls | undefined;
  targetTls?: TargetTls | undefined;
  service: string;
  direction: Direction;
  sink: ExchangeSink;
  redactor: Redactor;
  sessionKeyer?: SessionKeyer;
  /** bytes of messages kept per side; past it the call still flows, the record is marked truncated */
  maxBodyBytes: number;
  log: Logger;
}

export interface GrpcCapture {
  readonly address: AddressInfo;
  readonly url: string;
  close(graceMs?: number): Promise<void>;
}

/** Response headers a proxy must not copy: HTTP/2 forbids connection-specific ones (RFC 9113 8.2.2). */
function forwardable(pairs: HeaderPairs): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of pairs) {
    const key = k.toLowerCase();
    if (key.startsWith(':') || TRANSPORT_METADATA.has(key)) continue;
    const prev = out[key];
    if (prev === undefined) out[key] = v;
    else out[key] = Array.isArray(prev) ? [...prev, v] : [String(prev), v];
  }
  return out;
}

class BodyCopy {
  chunks: Buffer[] = [];
  bytes = 0;
  isTruncated = false;
  readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  add(chunk: Buffer): void {
    if (this.isTruncated) return;
    if (this.bytes + chunk.length > this.max) {
      this.isTruncated = true;
      return;
    }
    this.chunks.push(chunk);
    this.bytes += chunk.length;
  }
}

export async function startGrpcCapture(opts: GrpcCaptureOptions): Promise<GrpcCapture> {
  const log = opts.log.child({ component: 'grpc-capture', service: opts.service });
  const targetUrl = new URL(opts.target);
  const authority = targetUrl.host;
  let upstream: ClientHttp2Session | undefined;
  let connectionSeq = 0;

  const upstreamSession = (): ClientHttp2Session => {
    if (upstream !== undefined && !upstream.closed && !upstream.destroyed) return upstream;
    const t = opts.targetTls;
    const s = connect(opts.target, t === undefined ? {} : { ca: t.ca, cert: t.cert, key: t.key, rejectUnauthorized: t.rejectUnauthorized, ALPNProtocols: ['h2'] });
    s.on('error', (err) => log.warn({ err, target: opts.target }, 'grpc upstream session failed'));
    s.on('close', () => {
      if (upstream === s) upstream = undefined;
    });
    upstream = s;
    return s;
  };

  const onStream = (stream: ServerHttp2Stream, _headers: unknown, _flags: number, rawHeaders: string[], connectionId: string): void => {
    const startedAt = new Date();
    const t0 = performance.now();
    const id = newExchangeId(startedAt.getTime());
    const reqPairs = pairsFromRaw(rawHeaders);
    const path = reqPairs.find(([k]) => k === ':path')?.[1] ?? '/';
    const reqCopy = new BodyCopy(opts.maxBodyBytes);

    const finish = (answer: RelayedAnswer): void => {
      const session = opts.sessionKeyer?.({ rawHeaders, connectionId, exchangeId: id }) ?? connectionId;
      const ex = grpcExchangeFrom({
        path,
        requestHeaders: reqPairs,
        requestBody: reqCopy.chunks,
        requestTruncated: reqCopy.isTruncated,
        responseHeaders: answer.headers,
        responseBody: answer.body,
        responseTruncated: answer.isTruncated,
        trailers: answer.trailers,
        ...(answer.error === undefined ? {} : { error: answer.error }),
        envelope: { id, session, parent: null, direction: opts.direction, service: opts.service, startedAt, durationMs: performance.now() - t0 },
      });
      ex.grpc.request.metadata = opts.redactor.headers(ex.grpc.request.metadata);
      if (ex.grpc.response !== null) ex.grpc.response.metadata = opts.redactor.headers(ex.grpc.response.metadata);
      opts.sink.offer(ex);
    };

    let up: ClientHttp2Stream;
    try {
      up = requestWithLeanAsyncBind(upstreamSession(), {
        ...forwardable(reqPairs),
        [constants.HTTP2_HEADER_METHOD]: 'POST',
        [constants.HTTP2_HEADER_PATH]: path,
        [constants.HTTP2_HEADER_AUTHORITY]: authority,
        [constants.HTTP2_HEADER_SCHEME]: targetUrl.protocol === 'https:' ? 'https' : 'http',
        te: 'trailers',
      });
    } catch (err) {
      failUnavailable(stream, err as Error);
      finish({ headers: undefined, trailers: [], body: [], isTruncated: false, error: { code: 'UPSTREAM_UNAVAILABLE', message: (err as Error).message } });
      return;
    }

    stream.on('data', (chunk: Buffer) => reqCopy.add(chunk));
    stream.pipe(up);
    // The answer flows back as it comes; a copy of it becomes the exchange once both sides are done.
    relayGrpcAnswer(up, stream, { maxBodyBytes: opts.maxBodyBytes, onFailedBeforeAnswer: (err) => failUnavailable(stream, err), onDone: finish });
    stream.on('error', (err) => log.debug({ err }, 'grpc client stream error'));
  };

  const open = new Set<ServerHttp2Session>();
  const connectionIds = new WeakMap<ServerHttp2Session, string>();
  const attach = (server: Http2Server | Http2SecureServer): void => {
    server.on('session', (session: ServerHttp2Session) => {
      connectionIds.set(session, `c-${++connectionSeq}`);
      open.add(session);
      session.on('close', () => open.delete(session));
      session.on('error', (err) => log.debug({ err }, 'grpc client session error'));
    });
    server.on('stream', (stream: ServerHttp2Stream, headers: unknown, flags: number, rawHeaders: string[]) => {
      onStream(stream, headers, flags, rawHeaders, connectionIds.get(stream.session as ServerHttp2Session) ?? 'c-0');
    });
  };

  let server: Http2Server | Http2SecureServer;
  if (opts.tls === undefined) {
    server = createServer();
  } else {
    const secure = createSecureServer({ ...opts.tls.serverOptions(), ALPNProtocols: ['h2'] });
    opts.tls.attach(secure);
    server = secure;
  }
  attach(server);
  const address = await listenOn(server, parseHostPort(opts.listen, opts.listenFlag), opts.listenFlag);
  const scheme = opts.tls === undefined ? 'http' : 'https';
  log.info({ address: `${address.address}:${address.port}`, target: opts.target, direction: opts.direction }, 'grpc record listener listening');
  return {
    address,
    url: `${scheme}://${address.address}:${address.port}`,
    async close(graceMs = 2_000) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        // Sessions that stay idle would hold close() open: ask them to finish their streams.
        for (const s of open) s.close();
      });
      upstream?.close();
      await opts.sink.settle();
    },
  };
}

/** Trailers-Only UNAVAILABLE, as a gRPC client expects from an unreachable backend. */
function failUnavailable(stream: ServerHttp2Stream, err: Error): void {
  if (stream.destroyed || stream.headersSent) return;
  stream.respond(
    {
      [constants.HTTP2_HEADER_STATUS]: 200,
      'content-type': 'application/grpc',
      'grpc-status': String(GrpcStatus.UNAVAILABLE),
      'grpc-message': encodeGrpcMessage(`doppel: upstream unavailable: ${err.message}`),
    },
    { endStream: true },
  );
}
