/**
 * The transparent recording proxy, used for the inbound side (in front of the
 * service) and for HTTP dependency ports (in front of what the service calls).
 *
 * Node's http server on the client side (raw header lists, rawTrailers,
 * automatic 100 Continue, parser-level rejection of malformed requests and of
 * Content-Length with Transfer-Encoding, RFC 9112 §6.3) and undici's
 * dispatcher API on the upstream side (raw response headers and trailers,
 * backpressure through the handler's return values). Bodies stream chunk by
 * chunk in both directions; recording copies at most `maxBodyBytes` of each.
 *
 * A request the parser refuses gets one answer (400/408/413/431/501, see
 * request-refusal.ts) while none of its response has gone out, including when
 * the error is in the body's framing after the head was accepted; the
 * upstream request is cancelled (chunked bodies are held back first, see
 * chunked-hold.ts) and nothing is recorded.
 *
 * HTTP/2 clients (ALPN h2, or h2c prior knowledge) are taken as streams from
 * the listener, with no compatibility req/res, and relayed by
 * h2-stream-proxy.ts; their requests go upstream over HTTP/2 too, one stream
 * each (http2-upstream.ts; http2-translate.ts for an https:// origin without h2).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { Pool, type Dispatcher } from 'undici';
import type { Direction } from '../core/exchange.js';
import type { Logger } from '../core/logger.js';
import { newExchangeId } from '../core/ids.js';
import { systemClock, type Clock } from '../core/clock.js';
import { formatHostPort, parseHostPort } from '../core/address.js';
import { connectionEvent, createHttpListener, listenOn, tlsTagsOf } from '../core/listen.js';
import type { ServerTls, TargetTls } from '../core/tls.js';
import type { Metrics } from '../metrics/metrics.js';
import { peerFailureReason } from '../core/peer-failure.js';
import { forwardRequestHeaders, recordedRequestFields } from '../protocols/http/hop-by-hop.js';
import { originForm } from '../protocols/http/origin-form.js';
import type { CaptureSink, RawHttpExchange } from './recorder.js';
import type { RecordDecision } from './record-filter.js';
import { traceIdOf, traceparentOf, type InboundLink, type TraceLinks } from '../protocols/http/trace-links.js';
import { tunnelUpgrade } from './upgrade-tunnel.js';
import { BodyTap } from './body-tap.js';
import { CLIENT_CLOSED, kBodyExchange, kConnId, kTlsTags, ProxyHandler, sendError, type TaggedSocket } from './proxy-handler.js';
import { CHUNKED_HOLD, holdChunkedBody, type ChunkedHoldLimits, type HeldBody } from './chunked-hold.js';
import { refusalForParseError, refusalForTransferEncoding, sendRefusal, type Refusal } from './request-refusal.js';
import { iterableBody } from '../core/http2-headers.js';
import { createHttp2Pool } from './http2-translate.js';
import { Http2Upstream } from './http2-upstream.js';
import { UpstreamClients } from './upstream-clients.js';
import { proxyHttp2Stream, type H2StreamProxyContext } from './h2-stream-proxy.js';

export interface ProxyTimeouts {
  /** time to receive a client's request head (server.headersTimeout) */
  headersMs: number;
  /** time to receive a client's whole request (server.requestTimeout) */
  requestMs: number;
  /** idle time before closing a kept-alive client connection */
  keepAliveMs: number;
  /** time to get the upstream's response head, and between body chunks */
  upstreamMs: number;
}

/** Byte and count limits of one proxy (record.max_header_bytes, record.max_connections). */
export interface ProxyLimits {
  /** request head from a client, response head from the upstream: larger is 431 / 502 */
  maxHeaderBytes: number;
  /** client connections held at once; more are closed as they arrive and counted */
  maxConnections: number;
}

export interface HttpCaptureProxyOptions {
  listen: string;
  /** the flag or config key that moves this listener, named if its address cannot be bound */
  listenFlag?: string | undefined;
  /** base URL of the upstream (service or real dependency) */
  target: string;
  /** serve clients over TLS with this certificate */
  tls?: ServerTls | undefined;
  /** CA, client certificate and verification for an https:// target */
  targetTls?: TargetTls | undefined;
  /**
   * every request goes upstream over HTTP/2 (h2c prior knowledge for http://, ALPN for https://),
   * HTTP/1.1 ones too: for an upstream that speaks only HTTP/2. Recorded in the client's version.
   */
  upstreamHttp2?: boolean | undefined;
  service: string;
  direction: Direction;
  /** where finished exchanges go; none = proxy only */
  sink?: CaptureSink | undefined;
  /** record / filtered / sampled_out, decided when a request starts */
  decide?: ((method: string, url: string) => RecordDecision) | undefined;
  maxBodyBytes: number;
  timeouts: ProxyTimeouts;
  /** Node's defaults (16 KiB heads, no connection cap) when absent */
  limits?: ProxyLimits | undefined;
  /** send the target's host as Host instead of the client's (dependency ports) */
  rewriteHost: boolean;
  /** inbound side registers traces; dependency side links its exchanges to them */
  traceLinks?: TraceLinks | undefined;
  /** fields added to a request before it is forwarded and recorded (shadow's --inject-traceparent) */
  addRequestHeaders?: ((raw: readonly string[]) => readonly string[] | undefined) | undefined;
  log: Logger;
  /** counts refused requests (doppel_http_bad_requests_total) */
  metrics?: Metrics | undefined;
  /** how much of a chunked request body is held back until its framing is known good */
  chunkedHold?: ChunkedHoldLimits | undefined;
  clock?: Clock;
}

export interface HttpCaptureProxy {
  readonly address: string;
  readonly url: string;
  readonly server: Server;
  /** stops accepting, lets in-flight exchanges finish for up to graceMs, then closes */
  close(graceMs?: number): Promise<void>;
}

export async function startHttpCaptureProxy(opts: HttpCaptureProxyOptions): Promise<HttpCaptureProxy> {
  const clock = opts.clock ?? systemClock;
  const log = opts.log.child({ component: 'proxy', service: opts.service, direction: opts.direction });
  const target = new URL(opts.target);
  const origin = target.origin;
  const basePath = target.pathname.replace(/\/+$/, '');
  const hostOverride = opts.rewriteHost ? target.host : undefined;
  const upstreamMs = opts.timeouts.upstreamMs;
  const pool = new UpstreamClients(origin, {
    headersTimeout: upstreamMs,
    bodyTimeout: upstreamMs,
    connect: { timeout: Math.min(upstreamMs, 10_000), ...opts.targetTls },
    keepAliveTimeout: 4_000,
    pipelining: 1,
    ...(opts.limits === undefined ? {} : { maxHeaderSize: opts.limits.maxHeaderBytes }),
  });
  // Opened on the first HTTP/2 request: most upstreams never see one. Node's own session, h2c
  // (prior knowledge) or over TLS; an https:// origin whose ALPN answer is not h2 gets undici's pool (HTTP/1.1).
  let h2upstream: Http2Upstream | undefined;
  const h2Pool = () =>
    (h2upstream ??= new Http2Upstream(origin, {
      upstreamMs,
      targetTls: opts.targetTls,
      http1Fallback: () => createHttp2Pool(origin, { upstreamMs, targetTls: opts.targetTls }),
    }));
  const maxBody = opts.maxBodyBytes;
  const hold = opts.chunkedHold ?? CHUNKED_HOLD;
  const isInbound = opts.direction === 'inbound';
  let connSeq = 0;
  const h2Context: H2StreamProxyContext = {
    service: opts.service,
    direction: opts.direction,
    sink: opts.sink,
    decide: opts.decide,
    maxBodyBytes: maxBody,
    hostOverride,
    basePath,
    traceLinks: opts.traceLinks,
    addRequestHeaders: opts.addRequestHeaders,
    upstreamFailures: opts.metrics?.upstreamFailures,
    clock,
    upstream: h2Pool,
  };

  const server = createHttpListener(
    {
      // Node 20 rejects HTTP/1.1 requests without Host by default; keep it explicit (RFC 9112 §3.2).
      requireHostHeader: true,
      headersTimeout: opts.timeouts.headersMs,
      requestTimeout: opts.timeouts.requestMs,
      keepAliveTimeout: opts.timeouts.keepAliveMs,
      ...(opts.limits === undefined ? {} : { maxHeaderSize: opts.limits.maxHeaderBytes }),
    },
    opts.tls,
    log,
    { onStream: (stream, headers, rawHeaders) => proxyHttp2Stream(h2Context, stream, headers, rawHeaders) },
  );
  if (opts.limits !== undefined) server.maxConnections = opts.limits.maxConnections;
  const connections = new Set<Socket>();

  // Every TCP socket is tracked, TLS ones still in their handshake too, so close() can cut them all.
  const track = (socket: Socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
  };
  const onConnection = (socket: TaggedSocket) => {
    socket[kConnId] = `c-${newExchangeId()}-${++connSeq}`;
    // set on every socket up front: writing it per request then changes no object's shape
    socket[kBodyExchange] = undefined;
    socket[kTlsTags] = opts.tls === undefined ? undefined : tlsTagsOf(socket);
  };
  if (opts.tls === undefined) {
    server.on('connection', (socket: TaggedSocket) => {
      track(socket);
      onConnection(socket);
    });
  } else {
    server.on('connection', track);
    server.on(connectionEvent(opts.tls), onConnection);
  }

  const badRequests = opts.metrics?.httpBadRequests;
  const upstreamFailures = opts.metrics?.upstreamFailures;
  // Node closes a connection over maxConnections as it arrives ('drop'); nothing of it was read.
  server.on('drop', () => badRequests?.inc({ service: opts.service, reason: 'too_many_connections' }));
  function refuse(socket: TaggedSocket, r: Refusal, code: string): void {
    socket[kBodyExchange] = 'refused';
    badRequests?.inc({ service: opts.service, reason: r.reason });
    log.debug({ code, status: r.status, reason: r.reason, message: r.message }, 'bad client request');
    sendRefusal(socket, r);
  }

  server.on('clientError', (err: NodeJS.ErrnoException & { reason?: string }, socket: TaggedSocket) => {
    // Malformed request line, header or body framing, CL+TE (smuggling), overflow, slow client:
    // one clear answer, this connection closed, everyone else unaffected.
    const code = err.code ?? '';
    if (code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const pending = socket[kBodyExchange];
    // Already answered and closing: the parser is only now refusing the same bytes.
    if (pending === 'refused') return;
    const detail = err.reason ?? err.message;
    const res = socket._httpMessage;
    if (res !== undefined && res !== null) {
      // The error is in the body of the request whose response is next in line, and none of
      // that response went out: it can still get its answer. Otherwise (a response under way,
      // or an earlier one still pending) cutting the connection is the only honest signal.
      if (!res.headersSent && !res.req.complete && socket.writable) {
        if (pending !== undefined && pending.res === res) pending.refuse();
        refuse(socket, refusalForParseError(code, detail, true), code);
      } else {
        log.debug({ code, reason: detail }, 'bad client request with a response under way');
        socket.destroy();
      }
      return;
    }
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    refuse(socket, refusalForParseError(code, detail, false), code);
  });

  server.on('upgrade', (req: IncomingMessage, socket, head: Buffer) => {
    tunnelUpgrade(req, socket, head, target, hostOverride, log, opts.targetTls);
  });

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res);
  });

  function handle(req: IncomingMessage, res: ServerResponse): void {
    // HTTP/2 clients never get here: their streams go to h2-stream-proxy.ts (the listener's onStream).
    let raw: readonly string[] = req.rawHeaders;
    let hosts = 0;
    for (let i = 0; i < raw.length; i += 2) {
      const n = raw[i] as string;
      if (n.length === 4 && n.toLowerCase() === 'host') hosts++;
    }
    if (hosts > 1) {
      // RFC 9112 §3.2: a request with more than one Host field must get 400.
      res.shouldKeepAlive = false;
      sendError(res, 400, 'bad_request', 'more than one Host header');
      req.resume();
      return;
    }
    const te = req.headers['transfer-encoding'];
    if (te !== undefined) {
      const refusal = refusalForTransferEncoding(te, req.httpVersionMinor);
      if (refusal !== undefined) {
        // Before anything is dispatched: the origin never hears of it.
        refuse(req.socket, refusal, 'transfer-encoding');
        return;
      }
    }
    const method = req.method ?? 'GET';
    if (method === 'CONNECT') {
      res.shouldKeepAlive = false;
      sendError(res, 405, 'method_not_allowed', 'CONNECT is not proxied');
      return;
    }
    const url = originForm(req.url ?? '/');
    const added = opts.addRequestHeaders?.(raw);
    if (added !== undefined && added.length > 0) raw = [...raw, ...added];
    const startedAt = clock.now();
    const t0 = clock.monotonic();
    const sink = opts.sink;
    let recording = false;
    if (sink !== undefined) {
      if (sink.isPaused) sink.skip('paused');
      else {
        const decision = opts.decide ? opts.decide(method, url) : 'record';
        if (decision === 'record') recording = sink.admit?.() ?? true;
        else sink.skip(decision);
      }
    }
    const id = newExchangeId(startedAt);
    const connectionId = (req.socket as TaggedSocket)[kConnId] ?? 'c-unknown';
    const tlsTags = (req.socket as TaggedSocket)[kTlsTags];
    let parent: InboundLink | undefined;
    if (opts.traceLinks !== undefined) {
      const traceId = traceIdOf(traceparentOf(raw));
      if (traceId !== undefined) {
        if (isInbound) opts.traceLinks.inbound(traceId, { id, rawHeaders: raw, connectionId });
        else parent = opts.traceLinks.find(traceId);
      }
    }
    const fwd = forwardRequestHeaders(raw, hostOverride);
    const hasBody = te !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
    const handler = new ProxyHandler(req, res, recording ? new BodyTap(maxBody) : undefined, recording ? new BodyTap(maxBody) : undefined, (h) => {
      if (h.error !== undefined && h.error.code !== CLIENT_CLOSED) upstreamFailures?.inc({ service: opts.service, reason: peerFailureReason(h.error) });
      if (!recording || sink === undefined) return;
      const rawEx: RawHttpExchange = {
        id,
        direction: opts.direction,
        service: opts.service,
        startedAt,
        durationMs: clock.monotonic() - t0,
        connectionId,
        parent,
        method,
        url,
        requestHeaders: recordedRequestFields(raw),
        requestBody: h.reqTap?.chunks ?? [],
        requestTruncated: h.reqTap?.truncated ?? false,
        response:
          h.status === undefined
            ? undefined
            : {
                status: h.status,
                headers: h.resHeaders ?? [],
                trailers: h.trailers,
                body: h.resTap?.chunks ?? [],
                truncated: h.resTap?.truncated ?? false,
              },
        error: h.error,
      };
      if (tlsTags !== undefined) rawEx.tags = { ...tlsTags };
      sink.offer(rawEx);
    });
    res.once('close', () => handler.onClientClose());
    const path = basePath + url;
    // With a body, a parse error after the head must find this exchange (clientError) to cancel it.
    if (hasBody) (req.socket as TaggedSocket)[kBodyExchange] = handler;
    if (opts.upstreamHttp2 === true) {
      // Bodies go to undici's HTTP/2 client as iterables, so the tap sees request chunks (core/http2-headers.ts iterableBody).
      if (te === undefined) dispatchUpstream(h2Pool(), path, method, fwd.headers, hasBody ? iterableBody(req) : null, handler);
      else handler.holdBody(holdChunkedBody(req, hold, (body) => dispatchUpstream(h2Pool(), path, method, fwd.headers, Buffer.isBuffer(body) ? body : iterableBody(body), handler)));
    } else if (te === undefined) dispatchUpstream(pool, path, method, fwd.headers, hasBody ? req : null, handler);
    else handler.holdBody(holdChunkedBody(req, hold, (body) => dispatchUpstream(pool, path, method, fwd.headers, body, handler)));
  }

  const hp = parseHostPort(opts.listen, 'listen address');
  const bound = await listenOn(server, hp, opts.listenFlag);
  const address = formatHostPort({ host: hp.host, port: bound.port });
  log.info({ address, target: origin + basePath, tls: opts.tls !== undefined }, opts.direction === 'inbound' ? 'record proxy listening' : 'dependency proxy listening');

  return {
    address,
    url: `${opts.tls === undefined ? 'http' : 'https'}://${address}`,
    server,
    async close(graceMs = 5_000) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => {
        for (const s of connections) s.destroy();
      }, graceMs);
      timer.unref();
      await closed;
      clearTimeout(timer);
      await pool.close().catch(() => undefined);
      await h2upstream?.close().catch(() => undefined);
    },
  };
}

function dispatchUpstream(pool: UpstreamClients | Pool | Http2Upstream, path: string, method: string, headers: string[], body: HeldBody | IncomingMessage | AsyncIterable<Buffer> | null, handler: ProxyHandler): void {
  try {
    // undici takes async iterables as bodies too (lib/core/request.js); its typings list streams only.
    if (pool instanceof Http2Upstream) pool.dispatch(path, method, headers, body as Buffer | AsyncIterable<Buffer> | null, handler);
    else pool.dispatch({ path, method, headers, body: body as Buffer | Readable | null }, handler as unknown as Dispatcher.DispatchHandler);
  } catch (err) {
    handler.onError(err as Error);
  }
}

