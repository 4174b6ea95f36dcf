/**
 * The record proxy's HTTP/2 path on Node's stream API: each client stream
 * (ServerHttp2Stream) is relayed to the upstream and back by one
 * H2StreamProxy, with no compatibility req/res in between, and recorded
 * exactly as the compatibility path records it (version '2', authority, the
 * request's fields without pseudo-headers and with split cookies joined,
 * RFC 9113 §8.2.3).
 *
 * The upstream is Node's own session (http2-upstream.ts, h2c or TLS) and the
 * response head arrives as Node's header object, relayed as it is; an
 * https:// origin that does not offer h2 by ALPN is reached through undici's
 * pool over HTTP/1.1, whose raw head is converted once. Trailers are relayed (respond with waitForTrailers, send
 * them on 'wantTrailers'); a head that ended the upstream stream (gRPC's
 * Trailers-Only, PROTOCOL-HTTP2.md "Responses") goes on as one HEADERS frame
 * with END_STREAM. A failure before any head went out answers 502/504 with
 * the same JSON body as proxy-handler.ts sendError; after, the stream is cut
 * (RST_STREAM). A client that resets its stream cancels the upstream one and
 * is recorded as CLIENT_CLOSED.
 */
import { constants, type Http2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Direction } from '../core/exchange.js';
import type { Clock } from '../core/clock.js';
import { newExchangeId } from '../core/ids.js';
import { errorCodeOf, peerFailureReason } from '../core/peer-failure.js';
import { flatTrailers, headerObjectOf, http2RequestHead } from '../core/http2-headers.js';
import type { Metrics } from '../metrics/metrics.js';
import { forwardRequestHeaders, forwardResponseHeaders, isRequestHopField, isResponseHopField, recordedRequestFields } from '../protocols/http/hop-by-hop.js';
import { originForm } from '../protocols/http/origin-form.js';
import { traceIdOf, traceparentOf, type InboundLink, type TraceLinks } from '../protocols/http/trace-links.js';
import { BodyTap } from './body-tap.js';
import type { CaptureSink, RawHttpExchange } from './recorder.js';
import type { RecordDecision } from './record-filter.js';
import { CLIENT_CLOSED, kConnId, kTlsTags, type TaggedSocket } from './proxy-handler.js';
import type { Http2Upstream, StreamUpstreamHandler } from './http2-upstream.js';

/** What every stream of one proxy shares; built once by the proxy. */
export interface H2StreamProxyContext {
  readonly service: string;
  readonly direction: Direction;
  readonly sink: CaptureSink | undefined;
  readonly decide: ((method: string, url: string) => RecordDecision) | undefined;
  readonly maxBodyBytes: number;
  /** the target's host, sent instead of the client's authority (dependency ports) */
  readonly hostOverride: string | undefined;
  /** the target URL's path, prefixed to every request's */
  readonly basePath: string;
  readonly traceLinks: TraceLinks | undefined;
  readonly addRequestHeaders: ((raw: readonly string[]) => readonly string[] | undefined) | undefined;
  readonly upstreamFailures: Metrics['upstreamFailures'] | undefined;
  readonly clock: Clock;
  /** the HTTP/2 upstream, opened on first use */
  readonly upstream: () => Http2Upstream;
}

/** connectionId and TLS tags of a session, read from its socket once (the session's socket is a proxy object). */
const kSessionTags = Symbol('doppel.sessionTags');
interface SessionTags {
  connectionId: string;
  tls: Record<string, string> | undefined;
}
type TaggedSession = Http2Session & { [kSessionTags]?: SessionTags };

function sessionTagsOf(stream: ServerHttp2Stream): SessionTags {
  const session = stream.session as TaggedSession | undefined;
  const known = session?.[kSessionTags];
  if (known !== undefined) return known;
  let tags: SessionTags = { connectionId: 'c-unknown', tls: undefined };
  try {
    const socket = session?.socket as TaggedSocket | undefined;
    tags = { connectionId: socket?.[kConnId] ?? 'c-unknown', tls: socket?.[kTlsTags] };
  } catch {
    // A session already destroyed has no socket to read (ERR_HTTP2_SOCKET_UNBOUND).
  }
  if (session !== undefined) session[kSessionTags] = tags;
  return tags;
}

function ignore(): void {}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);

/** The same JSON answer proxy-handler.ts sendError gives, as one HEADERS and one DATA frame. */
function respondError(stream: ServerHttp2Stream, status: number, error: string, message: string): void {
  const body = JSON.stringify({ error, message });
  stream.respond(
    {
      ':status': status,
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'x-doppel-error': error,
    },
    // Date is the upstream's to give; the compatibility path sends none either.
    { sendDate: false } as never,
  );
  stream.end(body);
}

/**
 * The head to send upstream over HTTP/2, in one pass over the recorded fields: what
 * hop-by-hop.ts forwardRequestHeaders keeps, the authority as :authority, `te` only as `trailers`.
 */
function upstreamHead(method: string, path: string, raw: readonly string[], authority: string | undefined): OutgoingHttpHeaders {
  const head: OutgoingHttpHeaders = { ':method': method, ':path': path };
  if (authority !== undefined) head[':authority'] = authority;
  let wantsTrailers = false;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    if (isRequestHopField(name)) {
      if (name === 'te' && /(^|,)\s*trailers\s*(;|,|$)/i.test(value)) wantsTrailers = true;
      continue;
    }
    const prev = head[name];
    head[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [String(prev), value];
  }
  if (wantsTrailers) head.te = 'trailers';
  return head;
}

/** True when a field list names a Connection field (never from an HTTP/2 client, §8.2.2; possible in added fields). */
function hasConnectionField(raw: readonly string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) if ((raw[i] as string).toLowerCase() === 'connection') return true;
  return false;
}

/** An HTTP/1.1-shaped field list (forwardRequestHeaders) as an HTTP/2 head. */
function headOfForwarded(method: string, path: string, fwd: readonly string[]): OutgoingHttpHeaders {
  const head: OutgoingHttpHeaders = { ':method': method, ':path': path };
  for (let i = 0; i + 1 < fwd.length; i += 2) {
    const name = (fwd[i] as string).toLowerCase();
    const value = fwd[i + 1] as string;
    if (name === 'host') {
      head[':authority'] = value;
      continue;
    }
    const prev = head[name];
    head[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [String(prev), value];
  }
  return head;
}


/** Takes one client stream: answers it locally (CONNECT, doubled Host) or relays and records it. */
export function proxyHttp2Stream(ctx: H2StreamProxyContext, stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: readonly string[]): void {
  const method = headers[':method'] ?? 'GET';
  if (method === 'CONNECT') {
    stream.on('error', ignore);
    respondError(stream, 405, 'method_not_allowed', 'CONNECT is not proxied');
    return;
  }
  const h2 = http2RequestHead(rawHeaders);
  let raw: readonly string[] = h2.headers;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) if ((raw[i] as string) === 'host') hosts++;
  if (hosts > 1) {
    // RFC 9112 §3.2 (and §8.3.1 of RFC 9113 for a Host beside :authority): one Host at most.
    stream.on('error', ignore);
    respondError(stream, 400, 'bad_request', 'more than one Host header');
    stream.resume();
    return;
  }
  // '*' (OPTIONS) or an absolute form: the origin-form part goes on, as for HTTP/1.1
  const url = originForm(headers[':path'] ?? '/');
  const added = ctx.addRequestHeaders?.(raw);
  if (added !== undefined && added.length > 0) raw = [...raw, ...added];
  new H2StreamProxy(ctx, stream, method, url, raw, h2.authority).start();
}

/** The H2StreamProxy a client stream belongs to, so its listeners can be shared functions. */
const kProxy = Symbol('doppel.h2StreamProxy');
type ProxiedStream = ServerHttp2Stream & { [kProxy]: H2StreamProxy };

/** One proxied stream: the client's ServerHttp2Stream, the upstream's handler, and what the record needs. */
export class H2StreamProxy implements StreamUpstreamHandler {
  status: number | undefined;
  resHeaders: string[] | undefined;
  trailers: string[] | undefined;
  error: { code: string; message: string } | undefined;

  readonly #ctx: H2StreamProxyContext;
  readonly #stream: ServerHttp2Stream;
  readonly #method: string;
  readonly #url: string;
  readonly #raw: readonly string[];
  readonly #authority: string | undefined;
  readonly #id: string;
  readonly #startedAt: number;
  readonly #t0: number;
  readonly #tags: SessionTags;
  readonly #parent: InboundLink | undefined;
  readonly #reqTap: BodyTap | undefined;
  readonly #resTap: BodyTap | undefined;
  #abort: ((err?: Error) => void) | undefined;
  #resumeUpstream: (() => void) | undefined;
  #isDone = false;
  #trailersOut: IncomingHttpHeaders | undefined;
  /** a head held back (undici path) until it is known whether a body or trailers follow */
  #heldHead: OutgoingHttpHeaders | undefined;

  constructor(ctx: H2StreamProxyContext, stream: ServerHttp2Stream, method: string, url: string, raw: readonly string[], authority: string | undefined) {
    this.#ctx = ctx;
    this.#stream = stream;
    this.#method = method;
    this.#url = url;
    this.#raw = raw;
    this.#authority = authority;
    const clock = ctx.clock;
    this.#startedAt = clock.now();
    this.#t0 = clock.monotonic();
    let recording = false;
    const sink = ctx.sink;
    if (sink !== undefined) {
      if (sink.isPaused) sink.skip('paused');
      else {
        const decision = ctx.decide === undefined ? 'record' : ctx.decide(method, url);
        if (decision === 'record') recording = sink.admit?.() ?? true;
        else sink.skip(decision);
      }
    }
    this.#reqTap = recording ? new BodyTap(ctx.maxBodyBytes) : undefined;
    this.#resTap = recording ? new BodyTap(ctx.maxBodyBytes) : undefined;
    this.#id = newExchangeId(this.#startedAt);
    this.#tags = sessionTagsOf(stream);
    let parent: InboundLink | undefined;
    const links = ctx.traceLinks;
    if (links !== undefined) {
      const traceId = traceIdOf(traceparentOf(raw));
      if (traceId !== undefined) {
        if (ctx.direction === 'inbound') links.inbound(traceId, { id: this.#id, rawHeaders: raw, connectionId: this.#tags.connectionId });
        else parent = links.find(traceId);
      }
    }
    this.#parent = parent;
  }

  // The client stream's listeners, one function for all streams: they find their H2StreamProxy on
  // the stream (`this`), so a stream allocates no closures for them.
  static readonly #onClose = function (this: ProxiedStream): void {
    this[kProxy].#onClientClose();
  };
  static readonly #onDrain = function (this: ProxiedStream): void {
    this[kProxy].#resumeUpstream?.();
  };
  static readonly #onWantTrailers = function (this: ProxiedStream): void {
    const self = this[kProxy];
    const t = self.#trailersOut;
    self.#trailersOut = undefined;
    // Empty trailers: Node ends the stream with an empty DATA frame instead.
    this.sendTrailers(t ?? {});
  };

  start(): void {
    const stream = this.#stream;
    (stream as ProxiedStream)[kProxy] = this;
    // Errors end in 'close' (RST_STREAM from the client, a session torn down): handled there.
    stream.on('error', ignore);
    // 'close' comes once; #onClientClose ignores a stream already done.
    stream.on('close', H2StreamProxy.#onClose);
    stream.on('drain', H2StreamProxy.#onDrain);
    stream.on('wantTrailers', H2StreamProxy.#onWantTrailers);
    const ctx = this.#ctx;
    const hasBody = !stream.endAfterHeaders;
    const path = ctx.basePath + this.#url;
    const authority = ctx.hostOverride ?? this.#authority;
    try {
      const raw = this.#raw;
      const head = hasConnectionField(raw) ? headOfForwarded(this.#method, path, forwardRequestHeaders(raw, authority).headers) : upstreamHead(this.#method, path, raw, authority);
      ctx.upstream().request(head, hasBody ? stream : null, this);
    } catch (err) {
      this.onError(err as Error);
    }
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort;
    if (this.#isDone) abort(new Error('client went away'));
  }

  onBodySent(chunk: Buffer | string): void {
    this.#reqTap?.add(chunk, false);
  }

  /** Node's session (h2c): the head as its header object. */
  onResponse(statusCode: number, headers: IncomingHttpHeaders, isEndOfStream: boolean, resume: () => void): boolean {
    if (statusCode < 200) return true;
    this.status = statusCode;
    this.#resumeUpstream = resume;
    // The record's list is only built for a stream that is recorded.
    const flat: string[] | undefined = this.#reqTap === undefined ? undefined : [];
    let hasHopField = false;
    for (const name in headers) {
      if (name.charCodeAt(0) === 58 /* ':' */) continue;
      if (isResponseHopField(name)) {
        hasHopField = true;
        continue;
      }
      const v = headers[name];
      if (v === undefined || flat === undefined) continue;
      if (Array.isArray(v)) for (const one of v) flat.push(name, one);
      else flat.push(name, v);
    }
    this.resHeaders = flat;
    if (this.#isDone) return false;
    // Node's object goes on as it came (respond copies it), never-indexed marks included (RFC 7541 §7.1.3);
    // an HTTP/2 origin can only have sent a hop field Node lets through (proxy-authenticate).
    return this.#respond(hasHopField ? withoutHopFields(statusCode, headers) : headers, isEndOfStream);
  }

  /** undici's pool (an https:// origin without h2): the raw head. */
  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true;
    this.status = statusCode;
    this.#resumeUpstream = resume;
    const flat = forwardResponseHeaders(rawHeaders);
    this.resHeaders = flat;
    if (this.#isDone) return false;
    const out: OutgoingHttpHeaders = { ':status': statusCode };
    let isTrailersOnly = false;
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const name = (flat[i] as string).toLowerCase();
      const value = flat[i + 1] as string;
      if (name === 'grpc-status') isTrailersOnly = true;
      const prev = out[name];
      out[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [String(prev), value];
    }
    if (isTrailersOnly) {
      // undici does not say whether the head ended the stream: hold a head carrying grpc-status
      // until the body or the end shows which it was.
      this.#heldHead = out;
      return true;
    }
    return this.#respond(out, false);
  }

  #respond(out: OutgoingHttpHeaders, isEndOfStream: boolean): boolean {
    try {
      this.#stream.respond(out, { endStream: isEndOfStream, waitForTrailers: !isEndOfStream, sendDate: false } as never);
    } catch (err) {
      // A field Node refuses to relay: the exchange fails as 502.
      this.#abort?.(err as Error);
      return false;
    }
    return true;
  }

  #releaseHead(): boolean {
    const held = this.#heldHead;
    if (held === undefined) return true;
    this.#heldHead = undefined;
    return this.#respond(held, false);
  }

  onData(chunk: Buffer): boolean {
    this.#resTap?.add(chunk, true);
    if (this.#isDone || !this.#releaseHead()) return false;
    return this.#stream.write(chunk);
  }

  onComplete(trailers: IncomingHttpHeaders | readonly (string | Buffer)[] | null): void {
    const flat = flatTrailers(trailers);
    if (flat.length > 0) this.trailers = flat;
    if (!this.#isDone) {
      const stream = this.#stream;
      if (this.#heldHead !== undefined && flat.length === 0) {
        const held = this.#heldHead;
        this.#heldHead = undefined;
        this.#respond(held, true);
      } else if (this.#releaseHead()) {
        if (flat.length > 0) this.#trailersOut = trailerObject(trailers, flat);
        // A Trailers-Only head already ended the stream.
        if (!stream.writableEnded) stream.end();
      }
    }
    this.#complete();
  }

  onError(err: Error): void {
    if (this.#isDone) return;
    const code = errorCodeOf(err) ?? 'UNKNOWN';
    this.error = { code, message: err.message };
    const stream = this.#stream;
    if (!stream.headersSent && !stream.destroyed) {
      if (TIMEOUT_CODES.has(code)) respondError(stream, 504, 'upstream_timeout', `upstream did not answer in time (${code})`);
      else respondError(stream, 502, 'upstream_unavailable', `upstream failed: ${err.message} (${code})`);
      if (!stream.readableEnded) {
        // The upstream never took the body: read the rest so the record of the failure shows what was sent.
        const tap = this.#reqTap;
        if (tap !== undefined) stream.on('data', (c: Buffer) => tap.add(c, false));
        stream.once('end', () => this.#complete());
        stream.resume();
        return;
      }
    } else if (!stream.destroyed) {
      // The head already went out: the only honest signal left is to cut the stream.
      stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    }
    this.#complete();
  }

  #onClientClose(): void {
    if (this.#isDone) return;
    this.#isDone = true;
    this.error ??= { code: CLIENT_CLOSED, message: 'client closed the stream before the response completed' };
    this.#abort?.(new Error('client closed the stream'));
    this.#finish();
  }

  #complete(): void {
    if (this.#isDone) return;
    this.#isDone = true;
    this.#finish();
  }

  #finish(): void {
    const ctx = this.#ctx;
    const error = this.error;
    if (error !== undefined && error.code !== CLIENT_CLOSED) ctx.upstreamFailures?.inc({ service: ctx.service, reason: peerFailureReason(error) });
    const sink = ctx.sink;
    if (this.#reqTap === undefined || sink === undefined) return;
    const status = this.status;
    const resTap = this.#resTap;
    const rawEx: RawHttpExchange = {
      id: this.#id,
      direction: ctx.direction,
      service: ctx.service,
      startedAt: this.#startedAt,
      durationMs: ctx.clock.monotonic() - this.#t0,
      connectionId: this.#tags.connectionId,
      parent: this.#parent,
      method: this.#method,
      url: this.#url,
      version: '2',
      authority: this.#authority,
      requestHeaders: recordedRequestFields(this.#raw),
      requestBody: this.#reqTap.chunks,
      requestTruncated: this.#reqTap.truncated,
      response:
        status === undefined
          ? undefined
          : { status, headers: this.resHeaders ?? [], trailers: this.trailers, body: resTap?.chunks ?? [], truncated: resTap?.truncated ?? false },
      error,
    };
    const tls = this.#tags.tls;
    if (tls !== undefined) rawEx.tags = { ...tls };
    sink.offer(rawEx);
  }
}

/** A response head without the fields that never go to the client. */
function withoutHopFields(statusCode: number, headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ':status': statusCode };
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 /* ':' */ || isResponseHopField(name)) continue;
    const v = headers[name];
    if (v !== undefined) out[name] = v;
  }
  return out;
}

/** Trailers to send on: Node's object as it came, or undici's raw list folded by name. */
function trailerObject(trailers: IncomingHttpHeaders | readonly (string | Buffer)[] | null, flat: readonly string[]): IncomingHttpHeaders {
  if (trailers !== null && !Array.isArray(trailers)) return trailers as IncomingHttpHeaders;
  return headerObjectOf(flat);
}
