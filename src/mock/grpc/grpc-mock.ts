/**
 * The gRPC mock: an HTTP/2 server (h2c, or h2 over TLS) answering calls
 * from stubs, then recorded grpc exchanges of its service. The request is
 * read to its end (unary, server streaming; client streaming and bidi answer
 * once the client half-closes), then the recorded metadata, messages and
 * status go back. A miss answers UNIMPLEMENTED (unknown method) or
 * NOT_FOUND (known method, no recorded request like this one) with a
 * grpc-message naming the nearest recording, and is counted like HTTP misses;
 * with a target, the miss passes through to the real dependency instead
 * (passthrough.ts).
 */
import { constants, createSecureServer, createServer, type Http2SecureServer, type Http2Server, type OutgoingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { parseHostPort } from '../../core/address.js';
import type { GrpcExchange, GrpcResponseRecord } from '../../core/exchange.js';
import { listenOn } from '../../core/listen.js';
import type { Logger } from '../../core/logger.js';
import type { ServerTls, TargetTls } from '../../core/tls.js';
import type { Metrics } from '../../metrics/metrics.js';
import { messageAsJson, type GrpcDescriptors } from '../../protocols/grpc/descriptors.js';
import { encodeFrame, frameMessage, GrpcFrameDecoder, GrpcFramingError } from '../../protocols/grpc/framing.js';
import { headerValue, pairsFromRaw, STATUS_TRAILERS, TRANSPORT_METADATA } from '../../protocols/grpc/metadata.js';
import { encodeGrpcMessage, encodeStatusDetails, GrpcStatus } from '../../protocols/grpc/status.js';
import type { MockCounts } from '../../gates/types.js';
import type { UnmatchedCall } from '../unmatched-calls.js';
import { createGrpcMockIndex, type GrpcMiss, type GrpcMockIndex } from './grpc-mock-index.js';
import type { GrpcStubs } from './grpc-stubs.js';
import { createGrpcPassthrough, type GrpcPassthrough, type GrpcRecordTo } from './passthrough.js';

export interface GrpcMockOptions {
  service: string;
  listen: string;
  listenFlag: string;
  tls?: ServerTls | undefined;
  exchanges: Iterable<GrpcExchange>;
  stubs?: GrpcStubs | undefined;
  descriptors?: GrpcDescriptors | undefined;
  /** largest request message accepted (mocks[].max_body_bytes) */
  maxMessageBytes: number;
  /** distinct misses kept for GET /api/unmatched */
  unmatchedKeep: number;
  /** the real dependency unmatched calls pass through to (mocks[].target) */
  passthrough?: GrpcPassthroughTarget | undefined;
  log: Logger;
  metrics: Metrics;
}

export interface GrpcPassthroughTarget {
  /** `http://host:port` (h2c) or `https://host:port` */
  target: string;
  tls?: TargetTls | undefined;
  headersTimeoutMs: number;
  /** where passthrough exchanges are written; none when absent */
  recordTo?: GrpcRecordTo | undefined;
}

export interface GrpcMock {
  readonly address: AddressInfo;
  readonly index: GrpcMockIndex;
  /** calls answered, missed and passed through since start */
  counts(): MockCounts;
  reset(): void;
  unmatched(): UnmatchedCall[];
  close(): Promise<void>;
}

/** grpc-timeout: digits and a unit (PROTOCOL-HTTP2.md "Timeout"). */
function timeoutMs(value: string | undefined): number | undefined {
  const m = value === undefined ? null : /^(\d{1,8})([HMSmun])$/.exec(value);
  if (m === null) return undefined;
  const n = Number(m[1]);
  const unit: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };
  return n * (unit[m[2] as string] as number);
}

function responseHeaders(pairs: readonly (readonly [string, string])[]): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of pairs) {
    const key = k.toLowerCase();
    if (key.startsWith(':') || TRANSPORT_METADATA.has(key) || STATUS_TRAILERS.has(key) || key === 'date') continue;
    const prev = out[key];
    out[key] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [String(prev), v];
  }
  return out;
}

function statusTrailers(r: Pick<GrpcResponseRecord, 'status' | 'message' | 'details'>): OutgoingHttpHeaders {
  return {
    'grpc-status': String(r.status),
    ...(r.message === '' ? {} : { 'grpc-message': encodeGrpcMessage(r.message) }),
    ...(r.details === undefined ? {} : { 'grpc-status-details-bin': encodeStatusDetails(r.details) }),
  };
}

/** Answers a response record: headers, each message as its own DATA write, then trailers. */
export function answer(stream: ServerHttp2Stream, r: GrpcResponseRecord): void {
  if (stream.destroyed) return;
  const headers = { ...responseHeaders(r.metadata), [constants.HTTP2_HEADER_STATUS]: 200 };
  headers['content-type'] ??= 'application/grpc';
  if (r.messages.length === 0 && r.status !== GrpcStatus.OK) {
    // Trailers-Only, as gRPC servers send an error without messages.
    stream.respond({ ...headers, ...responseHeaders(r.trailers), ...statusTrailers(r) }, { endStream: true });
    return;
  }
  stream.respond(headers, { waitForTrailers: true });
  stream.once('wantTrailers', () => stream.sendTrailers({ ...responseHeaders(r.trailers), ...statusTrailers(r) }));
  for (const m of r.messages) stream.write(encodeFrame(Buffer.from(m, 'base64')));
  stream.end();
}

export function answerStatus(stream: ServerHttp2Stream, status: number, message: string): void {
  answer(stream, { metadata: [], messages: [], status, message, trailers: [], truncated: false });
}

export async function startGrpcMock(opts: GrpcMockOptions): Promise<GrpcMock> {
  const log = opts.log.child({ component: 'grpc-mock', service: opts.service });
  const index = createGrpcMockIndex(opts.service, opts.descriptors);
  for (const ex of opts.exchanges) index.add(ex);
  const misses = new Map<string, UnmatchedCall>();
  const counts: MockCounts = { matched: 0, unmatched: 0, passthrough: 0 };
  const count = (result: 'matched' | 'unmatched') => {
    counts[result]++;
    opts.metrics.mockRequests.inc({ service: opts.service, protocol: 'grpc', result });
  };
  const pt = opts.passthrough;
  const passthrough: GrpcPassthrough | undefined =
    pt === undefined
      ? undefined
      : createGrpcPassthrough({
          service: opts.service,
          target: pt.target,
          targetTls: pt.tls,
          headersTimeoutMs: pt.headersTimeoutMs,
          maxBodyBytes: opts.maxMessageBytes,
          recordTo: pt.recordTo,
          onLearned: (ex) => index.add(ex),
          metrics: opts.metrics,
          log: opts.log,
        });

  const noteMiss = (path: string, messages: readonly Buffer[], miss: GrpcMiss): void => {
    const key = `${path}\n${messages.map((m) => m.toString('base64')).join(',')}`;
    const now = new Date().toISOString();
    const prev = misses.get(key);
    if (prev !== undefined) {
      prev.at = now;
      prev.count = (prev.count ?? 1) + 1;
      return;
    }
    if (misses.size >= opts.unmatchedKeep) return;
    const json = messages.map((m) => messageAsJson(opts.descriptors, path, 'request', m));
    misses.set(key, {
      service: opts.service,
      protocol: 'grpc',
      at: now,
      firstAt: now,
      count: 1,
      request: { method: path, messages: json.map((j, i) => ('json' in j ? j.json : (messages[i] as Buffer).toString('base64'))) },
      nearest: miss.nearest,
    });
  };

  const onStream = (stream: ServerHttp2Stream, rawHeaders: string[]): void => {
    const pairs = pairsFromRaw(rawHeaders);
    const path = headerValue(pairs, ':path') ?? '/';
    const encoding = headerValue(pairs, 'grpc-encoding');
    const decoder = new GrpcFrameDecoder(opts.maxMessageBytes);
    const messages: Buffer[] = [];
    // the request as sent, kept only when a miss may pass through
    const raw: Buffer[] | undefined = passthrough === undefined ? undefined : [];
    stream.on('error', (err) => log.debug({ err }, 'grpc mock stream error'));
    stream.on('data', (chunk: Buffer) => {
      raw?.push(chunk);
      try {
        for (const f of decoder.push(chunk)) messages.push(frameMessage(f, encoding));
      } catch (err) {
        const why = err instanceof GrpcFramingError ? err.message : `bad request message: ${(err as Error).message}`;
        answerStatus(stream, err instanceof GrpcFramingError && why.includes('exceeds') ? GrpcStatus.RESOURCE_EXHAUSTED : GrpcStatus.INTERNAL, `doppel mock: ${why}`);
        stream.removeAllListeners('data');
        stream.resume();
      }
    });
    stream.on('end', () => {
      if (stream.headersSent || stream.destroyed) return;
      const stub = opts.stubs?.find(path, () => {
        const first = messages[0];
        if (first === undefined) return undefined;
        const r = messageAsJson(opts.descriptors, path, 'request', first);
        return 'json' in r ? r.json : undefined;
      });
      if (stub !== undefined) {
        count('matched');
        answer(stream, stub.response);
        return;
      }
      const found = index.lookup(path, messages);
      if (!found.ok && passthrough !== undefined) {
        counts.passthrough++;
        passthrough.forward(stream, pairs, path, raw ?? []);
        return;
      }
      if (!found.ok) {
        count('unmatched');
        noteMiss(path, messages, found.miss);
        answerStatus(stream, found.miss.kind === 'no-method' ? GrpcStatus.UNIMPLEMENTED : GrpcStatus.NOT_FOUND, found.miss.message);
        return;
      }
      count('matched');
      const res = found.exchange.grpc.response;
      if (res !== null) {
        answer(stream, res);
        return;
      }
      // Recorded without an answer (the client gave up, or the server never replied):
      // hold until the caller's deadline, as the recorded server did, else say so.
      const ms = timeoutMs(headerValue(pairs, 'grpc-timeout'));
      const why = found.exchange.grpc.error?.message ?? 'no response';
      if (ms === undefined) {
        answerStatus(stream, GrpcStatus.UNAVAILABLE, `doppel mock: the recorded call got no answer (${why})`);
        return;
      }
      const timer = setTimeout(() => answerStatus(stream, GrpcStatus.DEADLINE_EXCEEDED, 'Deadline Exceeded'), ms);
      stream.once('close', () => clearTimeout(timer));
    });
  };

  let server: Http2Server | Http2SecureServer;
  if (opts.tls === undefined) server = createServer();
  else {
    const secure = createSecureServer({ ...opts.tls.serverOptions(), ALPNProtocols: ['h2'] });
    opts.tls.attach(secure);
    server = secure;
  }
  const open = new Set<ServerHttp2Session>();
  server.on('session', (s: ServerHttp2Session) => {
    open.add(s);
    s.on('close', () => open.delete(s));
    s.on('error', (err) => log.debug({ err }, 'grpc mock session error'));
  });
  server.on('stream', (stream: ServerHttp2Stream, _h: unknown, _f: number, raw: string[]) => onStream(stream, raw));
  const address = await listenOn(server, parseHostPort(opts.listen, opts.listenFlag), opts.listenFlag);
  log.info({ address: `${address.address}:${address.port}`, recordings: index.size, stubs: opts.stubs?.size ?? 0, target: pt?.target }, 'grpc mock listening');
  return {
    address,
    index,
    counts: () => ({ ...counts }),
    reset: () => index.reset(),
    unmatched: () => [...misses.values()],
    close: async () => {
      await new Promise<void>((resolve) => {
        for (const s of open) s.close();
        server.close(() => resolve());
      });
      await passthrough?.close();
    },
  };
}
