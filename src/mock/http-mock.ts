/**
 * An HTTP dependency served from recordings (and stubs). Node's http server
 * directly: any content type, bodies up to a configured cap (413 beyond), no
 * framework defaults in the way. One Map lookup per request; misses answer
 * 404 `x-doppel-unmatched: 1` with the nearest recorded request, or pass
 * through to the real dependency and become new candidates. A miss storm is
 * bounded: the nearest-recording search and its cache, the miss log and the
 * unmatched list all have limits, and every miss is still counted exactly.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { constants as http2Constants } from 'node:http2';
import { Pool } from 'undici';
import { errorCodeOf, peerFailureReason } from '../core/peer-failure.js';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { EXCHANGE_FORMAT_VERSION, encodeBody, isHttpExchange, type Exchange, type HttpExchange } from '../core/exchange.js';
import { newExchangeId } from '../core/ids.js';
import { systemClock, type Clock } from '../core/clock.js';
import { formatHostPort, parseHostPort } from '../core/address.js';
import { contentEncodingOfRaw } from '../core/content-coding.js';
import { createHttpListener, listenOn } from '../core/listen.js';
import { addResponseTrailers, http1HeadersOf, http2HasBody, isHttp2Request } from '../core/http2-headers.js';
import type { ServerTls, TargetTls } from '../core/tls.js';
import { redactBody, type Redactor } from '../core/redact.js';
import type { ExchangeWriter } from '../store/types.js';
import { bufferPairs, forwardRequestHeaders, forwardResponseHeaders, toFlat, toPairs } from '../protocols/http/hop-by-hop.js';
import { traceparentOf } from '../protocols/http/trace-links.js';
import { buildKeyOptions, parseRequest, type ParsedRequest } from './http-request-key.js';
import { HttpMockIndex, type MockResponse } from './http-mock-index.js';
import type { MissExplainerOptions, MissExplainerStats, MissExplanation } from './http-miss-explainer.js';
import { createMissLog, type MissLogOptions, type MissLogStats } from './miss-log.js';
import { createUnmatchedCalls, type UnmatchedCall } from './unmatched-calls.js';
import { RECORDING_PRIORITY, sortStubs, stubMatches, type StubDefinition } from './http-stubs.js';

export interface HttpMockOptions {
  latency: 'recorded' | 'none';
  /** header names whose values must match (mocks[].match_headers) */
  matchHeaders: readonly string[];
  /** compare.ignore */
  ignore: readonly string[];
  /** compare.value_classes */
  valueClasses: boolean;
  maxBodyBytes: number;
  /** decode cap of request bodies sent with a Content-Encoding (compare.max_body_bytes; default 1mb) */
  maxDecodedBytes?: number;
  /** query params / JSON paths capture redacted: wildcards when matching */
  redactedQueryParams: Iterable<string>;
  redactedJsonPaths: readonly string[];
  /** real dependency: misses pass through to it */
  target?: string | undefined;
  /** distinct unmatched calls (by miss key) kept for GET /api/unmatched */
  unmatchedKeep: number;
  /** bounds of the nearest-recording search (defaults: 32 recordings per miss, 1,024 explanations cached) */
  explain?: MissExplainerOptions;
  /** bounds of the miss log (defaults: MISS_LOG_DEFAULTS) */
  missLog?: Omit<MissLogOptions, 'log' | 'clock'>;
  /** upstream timeout for passthrough, ms */
  upstreamTimeoutMs?: number;
  /** client connections held at once (mocks[].max_connections); more are closed as they arrive */
  maxConnections?: number;
}

export interface HttpMockRecordTo {
  writer: ExchangeWriter;
  redactor: Redactor;
}

export interface StartHttpMockOptions {
  service: string;
  listen: string;
  /** the flag or config key that moves this listener, named if its address cannot be bound */
  listenFlag?: string | undefined;
  /** serve over TLS with this certificate */
  tls?: ServerTls | undefined;
  /** CA and client certificate of an https:// target */
  targetTls?: TargetTls | undefined;
  /** recordings: any async or sync iterable of exchanges; only this service's HTTP exchanges are used */
  exchanges: AsyncIterable<Exchange> | Iterable<Exchange>;
  stubs?: readonly StubDefinition[];
  options: HttpMockOptions;
  /** where passthrough exchanges are written (with target) */
  recordTo?: HttpMockRecordTo | undefined;
  log: Logger;
  metrics: Metrics;
  clock?: Clock;
}

export interface HttpMockCounts {
  matched: number;
  unmatched: number;
  passthrough: number;
}

/** What misses have cost: the explainer's work and the miss log's lines. */
export interface HttpMockMissStats {
  explainer: MissExplainerStats;
  log: MissLogStats;
}

export interface HttpMock {
  readonly url: string;
  readonly address: string;
  readonly server: Server;
  /** recorded exchanges loaded */
  readonly loaded: number;
  counts(): HttpMockCounts;
  /** sequence state back to the start */
  reset(): void;
  unmatched(): UnmatchedCall[];
  /** unmatched calls no longer listed because more distinct keys came than `unmatchedKeep` */
  unmatchedOverflow(): number;
  missStats(): HttpMockMissStats;
  close(): Promise<void>;
}

const EMPTY = Buffer.alloc(0);

export async function startHttpMock(opts: StartHttpMockOptions): Promise<HttpMock> {
  const { service, metrics } = opts;
  const o = opts.options;
  const clock = opts.clock ?? systemClock;
  const log = opts.log.child({ component: 'mock', service });
  const index = new HttpMockIndex(
    buildKeyOptions({
      ignore: o.ignore,
      valueClasses: o.valueClasses,
      matchHeaders: o.matchHeaders,
      redactedQueryParams: o.redactedQueryParams,
      redactedJsonPaths: o.redactedJsonPaths,
      ...(o.maxDecodedBytes === undefined ? {} : { maxDecodedBytes: o.maxDecodedBytes }),
    }),
    o.explain,
  );
  const maxDecoded = index.keyOptions.maxDecodedBytes;
  for await (const ex of opts.exchanges) {
    if (ex.service === service && isHttpExchange(ex)) index.add(ex);
  }
  const stubs = sortStubs(opts.stubs ?? []);
  const before = stubs.filter((s) => s.priority < RECORDING_PRIORITY);
  const after = stubs.filter((s) => s.priority >= RECORDING_PRIORITY);
  const counts: HttpMockCounts = { matched: 0, unmatched: 0, passthrough: 0 };
  const unmatchedCalls = createUnmatchedCalls(o.unmatchedKeep);
  const missLog = createMissLog({ ...o.missLog, log, clock });
  const matchedCounter = metrics.mockRequests.labels(service, 'http', 'matched');
  const unmatchedCounter = metrics.mockRequests.labels(service, 'http', 'unmatched');
  const passCounter = metrics.mockRequests.labels(service, 'http', 'passthrough');
  const isRecordedLatency = o.latency === 'recorded';
  const target = o.target === undefined ? undefined : new URL(o.target);
  const pool =
    target === undefined
      ? undefined
      : new Pool(target.origin, {
          headersTimeout: o.upstreamTimeoutMs ?? 30_000,
          bodyTimeout: o.upstreamTimeoutMs ?? 30_000,
          pipelining: 1,
          ...(opts.targetTls === undefined ? {} : { connect: { ...opts.targetTls } }),
        });
  const basePath = target === undefined ? '' : target.pathname.replace(/\/+$/, '');

  const server = createHttpListener({ requireHostHeader: false, keepAliveTimeout: 5_000, headersTimeout: 30_000, requestTimeout: 300_000 }, opts.tls, log);
  if (o.maxConnections !== undefined) server.maxConnections = o.maxConnections;
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    res.sendDate = false;
    const te = req.headers['transfer-encoding'];
    const cl = req.headers['content-length'];
    // HTTP/2 frames the body itself: a request without Content-Length may still have one.
    if (isHttp2Request(req) ? !http2HasBody(req) : te === undefined && (cl === undefined || cl === '0')) {
      handle(req, res, EMPTY);
      return;
    }
    if (cl !== undefined && Number(cl) > o.maxBodyBytes) {
      tooLarge(req, res);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let aborted = false;
    req.on('data', (c: Buffer) => {
      if (aborted) return;
      size += c.length;
      if (size > o.maxBodyBytes) {
        aborted = true;
        tooLarge(req, res);
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!aborted) handle(req, res, chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
    });
  });

  function tooLarge(req: IncomingMessage, res: ServerResponse): void {
    const body = JSON.stringify({ error: 'body_too_large', message: `request body exceeds the mock's max_body_bytes (${o.maxBodyBytes})` });
    res.shouldKeepAlive = false;
    const close = isHttp2Request(req) ? {} : { connection: 'close' };
    res.writeHead(413, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...close });
    res.end(body);
    req.resume();
  }

  function handle(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    const url = req.url ?? '/';
    const headers = http1HeadersOf(req);
    const parsed = parseRequest({ method: req.method ?? 'GET', url, headers, body }, maxDecoded);
    if (parsed.undecoded !== undefined) {
      metrics.bodyDecodeFailures.inc({ stage: 'mock', reason: parsed.undecoded.reason });
      log.debug({ url, why: parsed.undecoded.message }, 'request body not decoded: matched as the bytes received');
    }
    for (const s of before) {
      if (stubMatches(s, parsed, url)) return serveStub(s, req, res);
    }
    const hit = index.lookup(parsed, traceparentOf(headers));
    if (hit !== undefined) {
      counts.matched++;
      matchedCounter.inc();
      if (isRecordedLatency && hit.durationMs > 0) {
        setTimeout(() => serve(res, hit), hit.durationMs);
      } else serve(res, hit);
      return;
    }
    for (const s of after) {
      if (stubMatches(s, parsed, url)) return serveStub(s, req, res);
    }
    if (pool !== undefined) {
      passthrough(req, res, parsed, url, body);
      return;
    }
    miss(req, res, parsed, url);
  }

  function serve(res: ServerResponse, r: MockResponse): void {
    if (res.destroyed) return;
    res.writeHead(r.status, r.headers);
    if (r.trailers !== undefined) {
      res.write(r.body());
      addResponseTrailers(res, toFlat(r.trailers));
      res.end();
    } else res.end(r.body());
  }

  function serveStub(s: StubDefinition, req: IncomingMessage, res: ServerResponse): void {
    counts.matched++;
    matchedCounter.inc();
    const act = () => {
      const socket = req.socket;
      // HTTP/2 has no socket of its own to break: every fault resets the stream (RFC 9113 §6.4).
      if (s.response.fault !== undefined && isHttp2Request(req)) return req.stream.close(http2Constants.NGHTTP2_INTERNAL_ERROR);
      switch (s.response.fault) {
        case undefined: {
          const headers = [...s.response.headers, 'Content-Length', String(s.response.body.length)];
          res.writeHead(s.response.status, headers);
          res.end(s.response.body);
          return;
        }
        case 'CONNECTION_RESET_BY_PEER':
          // TCP RST, as WireMock's fault does
          socket.resetAndDestroy();
          return;
        case 'EMPTY_RESPONSE':
          socket.destroy();
          return;
        case 'MALFORMED_RESPONSE_CHUNK':
          socket.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nlorem ipsum dolor sit amet\r\n');
          socket.destroySoon();
          return;
        case 'RANDOM_DATA_THEN_CLOSE':
          socket.end(randomBytes(64));
          return;
        default: {
          const never: never = s.response.fault;
          return never;
        }
      }
    };
    if (s.response.delayMs > 0) setTimeout(act, s.response.delayMs);
    else act();
  }

  function miss(req: IncomingMessage, res: ServerResponse, parsed: ParsedRequest, url: string): void {
    counts.unmatched++;
    unmatchedCounter.inc();
    const key = index.missKey(parsed);
    const why: MissExplanation = index.explain(parsed, key);
    const at = clock.now();
    unmatchedCalls.record(key, at, () => ({
      service,
      protocol: 'http',
      // the list writes first and last seen when it is read
      at: '',
      request: {
        method: parsed.method,
        url,
        headers: toPairs(parsed.headers),
        ...encodeBody(parsed.body.length > 4096 ? parsed.body.subarray(0, 4096) : parsed.body),
      },
      nearest: why.nearest === undefined ? undefined : { ...why.nearest, differences: why.differences },
    }));
    missLog.miss(key, () => ({ method: parsed.method, url, nearest: why.nearest?.id, differ: why.differences.map((d) => d.part) }));
    const body = JSON.stringify({
      error: 'unmatched',
      message:
        why.nearest === undefined
          ? `no recorded ${service} request to compare with`
          : `no recorded ${service} request matches; nearest is ${why.nearest.method} ${why.nearest.url} (differs in ${why.differences.map((d) => d.part).join(', ') || 'sequence'})`,
      request: { method: parsed.method, url },
      nearest: why.nearest ?? null,
      differences: why.differences,
    });
    res.writeHead(404, ['content-type', 'application/json; charset=utf-8', 'content-length', String(Buffer.byteLength(body)), 'x-doppel-unmatched', '1']);
    res.end(body);
  }

  function passthrough(req: IncomingMessage, res: ServerResponse, parsed: ParsedRequest, url: string, body: Buffer): void {
    counts.passthrough++;
    passCounter.inc();
    const startedAt = clock.now();
    const t0 = clock.monotonic();
    const fwd = forwardRequestHeaders(http1HeadersOf(req), target?.host);
    const chunks: Buffer[] = [];
    // What is kept of the answer is capped like a request body: an endless body streams to the
    // client (with backpressure) but is neither held whole nor indexed.
    let kept = 0;
    let isTruncated = false;
    let isDone = false;
    let abort: ((err?: Error) => void) | undefined;
    let status = 0;
    let resHeaders: string[] = [];
    let resTrailers: string[] = [];
    const p = pool as Pool;
    const finish = (error: { code: string; message: string } | undefined) => {
      isDone = true;
      const resBody = Buffer.concat(chunks);
      const ex: HttpExchange = {
        v: EXCHANGE_FORMAT_VERSION,
        id: newExchangeId(startedAt),
        session: '',
        parent: null,
        direction: 'outbound',
        service,
        protocol: 'http',
        startedAt: new Date(startedAt).toISOString(),
        durationMs: Math.round((clock.monotonic() - t0) * 1000) / 1000,
        http: {
          request: { method: parsed.method, url, headers: toPairs(fwd.headers), ...encodeBody(body), truncated: false },
          response:
            error === undefined
              ? {
                  status,
                  headers: toPairs(resHeaders),
                  ...(resTrailers.length > 0 ? { trailers: toPairs(resTrailers) } : {}),
                  ...encodeBody(resBody),
                  truncated: isTruncated,
                }
              : null,
          ...(error === undefined ? {} : { error }),
        },
        tags: { source: 'mock-passthrough' },
      };
      ex.session = ex.id;
      // the live index keeps the raw call so the next identical request matches it
      if (error === undefined && !isTruncated) index.add(ex);
      const rt = opts.recordTo;
      if (rt !== undefined) {
        const stored: HttpExchange = {
          ...ex,
          http: {
            ...ex.http,
            request: {
              ...ex.http.request,
              url: rt.redactor.url(url),
              headers: rt.redactor.headers(ex.http.request.headers),
              ...encodeBody(redactBody(rt.redactor, body, contentEncodingOfRaw(fwd.headers), maxDecoded).body),
            },
            response:
              ex.http.response === null
                ? null
                : {
                    ...ex.http.response,
                    headers: rt.redactor.headers(ex.http.response.headers),
                    ...encodeBody(redactBody(rt.redactor, resBody, contentEncodingOfRaw(resHeaders), maxDecoded).body),
                  },
          },
        };
        rt.writer.append(stored).then(
          () => metrics.exchangesRecorded.inc({ service, direction: 'outbound', protocol: 'http' }),
          (err: unknown) => {
            metrics.recordDropped.inc({ reason: 'store_error' });
            log.error({ err }, 'cannot record passthrough exchange');
          },
        );
      }
    };
    // A client that goes away mid-answer ends the upstream request too.
    let isClientGone = false;
    res.once('close', () => {
      if (isDone) return;
      isClientGone = true;
      abort?.(new Error('client closed the connection'));
    });
    try {
      p.dispatch(
        { path: basePath + url, method: parsed.method, headers: fwd.headers, body: body.length > 0 ? body : null },
        {
          onConnect: (a: (err?: Error) => void) => {
            abort = a;
          },
          onHeaders: (s: number, raw: Buffer[], resume: () => void, text: string) => {
            if (s < 200) return true;
            status = s;
            resHeaders = forwardResponseHeaders(raw);
            if (isHttp2Request(req)) res.writeHead(s, resHeaders);
            else res.writeHead(s, text, resHeaders);
            res.on('drain', resume);
            return true;
          },
          onData: (c: Buffer) => {
            if (kept + c.length <= o.maxBodyBytes) {
              chunks.push(Buffer.from(c));
              kept += c.length;
            } else isTruncated = true;
            return res.write(c);
          },
          onComplete: (trailers: Buffer[] | string[] | null) => {
            resTrailers = bufferPairs(trailers);
            if (resTrailers.length > 0) addResponseTrailers(res, resTrailers);
            res.end();
            finish(undefined);
          },
          onError: (err: Error) => {
            const code = errorCodeOf(err) ?? 'UNKNOWN';
            if (!isClientGone) metrics.upstreamFailures.inc({ service, reason: peerFailureReason(err) });
            if (!res.headersSent) {
              const b = JSON.stringify({ error: 'upstream_unavailable', message: `passthrough to ${target?.origin ?? ''} failed: ${err.message} (${code})` });
              res.writeHead(502, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b), 'x-doppel-error': 'upstream_unavailable' });
              res.end(b);
            } else res.destroy(err);
            finish({ code, message: err.message });
          },
        },
      );
    } catch (err) {
      res.destroy(err as Error);
    }
  }

  const hp = parseHostPort(opts.listen, 'listen address');
  const bound = await listenOn(server, hp, opts.listenFlag ?? `mocks[${opts.service}].listen`);
  const address = formatHostPort({ host: hp.host, port: bound.port });
  log.info({ address, recorded: index.size, stubs: stubs.length, target: o.target, tls: opts.tls !== undefined }, 'http mock listening');

  return {
    url: `${opts.tls === undefined ? 'http' : 'https'}://${address}`,
    address,
    server,
    get loaded() {
      return index.size;
    },
    counts: () => ({ ...counts }),
    reset() {
      index.reset();
    },
    unmatched: () => unmatchedCalls.list(),
    unmatchedOverflow: () => unmatchedCalls.overflow(),
    missStats: () => ({ explainer: index.explainStats(), log: missLog.stats() }),
    async close() {
      missLog.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const t = setTimeout(() => server.closeAllConnections(), 2_000);
      t.unref();
      await closed;
      clearTimeout(t);
      if (pool) await pool.close().catch(() => undefined);
    },
  };
}
