/**
 * Live mocks: the primary's downstream HTTP calls for each inbound request
 * are kept for a short window and served to the candidate's calls of the same
 * request, so the candidate never reaches a real dependency and writes can
 * be shadowed. The candidate's dependency ports answer only from these
 * recordings; a call with no recording gets a 404 explaining the miss and is
 * never passed through.
 *
 * Correlation, best first: the W3C trace id (`traceparent`,
 * https://www.w3.org/TR/trace-context/#traceparent-header) of the inbound
 * request, carried by both services to their calls; else, for a request that
 * has none, the primary's calls made while that request was open, matched by
 * method, path and body.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { formatHostPort, parseHostPort } from '../core/address.js';
import { listenOn } from '../core/listen.js';
import type { Logger } from '../core/logger.js';
import { appendTo, removeFrom } from '../core/multimap.js';
import type { Metrics } from '../metrics/metrics.js';
import { templatePath } from '../metrics/route-template.js';
import type { LiveMockPort, LiveMockSession } from './copy-sender.js';
import type { OutboundCall } from '../judge/types.js';
import type { TeeExchange } from './types.js';
import type { PgTracedStatement } from '../mock/pg/types.js';

/** A finished outbound exchange of the primary, as a dependency proxy hands it to its sink. */
export interface PrimaryCall extends TeeExchange {
  service: string;
  /** the inbound exchange of the same trace, when the proxy linked it */
  parent?: { id: string } | undefined;
}

export interface LiveMocksOptions {
  log: Logger;
  metrics: Metrics;
  /** how long the primary's calls are kept for the candidate */
  windowMs: number;
  /** most primary calls kept at once; the oldest go first */
  maxCalls: number;
  /** largest request body a candidate may send a mock */
  maxBodyBytes: number;
  /** add a traceparent to copies that have none, so the candidate's calls can be told apart */
  injectTraceparent: boolean;
  now?: () => number;
}

export interface LiveMockServer {
  readonly name: string;
  readonly address: string;
  close(): Promise<void>;
}

export interface LiveMocks extends LiveMockPort {
  /** sink for the primary's dependency proxies */
  readonly primarySink: { readonly isPaused: boolean; offer(call: PrimaryCall): boolean; skip(reason: string): void };
  /** opens a candidate dependency port serving the primary's calls to `name` */
  startMock(name: string, listen: string): Promise<LiveMockServer>;
  /**
   * A Postgres statement carrying a sqlcommenter traceparent: the primary's (fed
   * to the candidate's live mock) or the candidate's (answered by it). Counted
   * per inbound request in the outbound diff; statements without a trace are
   * not, since the time window alone cannot tell concurrent requests apart.
   */
  notePgStatement(service: string, s: PgTracedStatement): void;
  stats(): { kept: number; matched: number; unmatched: number; openSessions: number };
  close(): Promise<void>;
}

interface Kept {
  call: PrimaryCall;
  traceId: string | undefined;
  at: number;
  body: Buffer;
  isUsed: boolean;
}

interface Session {
  traceId: string | undefined;
  from: number;
  to: number;
  primary: Kept[];
  candidate: OutboundCall[];
  isOpen: boolean;
}

/** statement text kept in an outbound key: enough to tell statements apart in a report */
const PG_KEY_CHARS = 120;

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}/;

export function traceIdOfHeaders(raw: readonly string[]): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const n = raw[i] as string;
    if (n.length === 11 && n.toLowerCase() === 'traceparent') {
      const m = TRACEPARENT.exec((raw[i + 1] as string).trim().toLowerCase());
      const id = m?.[1];
      return id === undefined || id === '00000000000000000000000000000000' ? undefined : id;
    }
  }
  return undefined;
}

function concat(chunks: readonly Buffer[]): Buffer {
  if (chunks.length === 0) return Buffer.alloc(0);
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
}

/** Fields of a recorded response that describe its framing, not its content (RFC 9112 §6, §7). */
const FRAMING = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'trailer', 'upgrade']);

export function createLiveMocks(opts: LiveMocksOptions): LiveMocks {
  const now = opts.now ?? Date.now;
  const log = opts.log.child({ component: 'live-mocks' });
  /** every kept call in arrival order (bounded by maxCalls and windowMs) */
  const kept: Kept[] = [];
  const byTrace = new Map<string, Kept[]>();
  const sessionsByTrace = new Map<string, Session>();
  const untracedSessions: Session[] = [];
  const servers: Server[] = [];
  let matched = 0;
  let unmatched = 0;
  /** the primary's traced Postgres statements, oldest first, bounded like `kept` */
  const pgKept: Array<{ at: number; traceId: string; call: OutboundCall }> = [];
  const pgByTrace = new Map<string, OutboundCall[]>();

  const evict = () => {
    const cutoff = now() - opts.windowMs;
    let m = 0;
    while (m < pgKept.length && (pgKept.length - m > opts.maxCalls || (pgKept[m] as { at: number }).at < cutoff)) m++;
    for (const k of pgKept.splice(0, m)) removeFrom(pgByTrace, k.traceId, k.call);
    let n = 0;
    while (n < kept.length && (kept.length - n > opts.maxCalls || (kept[n] as Kept).at < cutoff)) n++;
    if (n === 0) return;
    for (const k of kept.splice(0, n)) if (k.traceId !== undefined) removeFrom(byTrace, k.traceId, k);
  };

  const primarySink = {
    isPaused: false,
    offer(call: PrimaryCall): boolean {
      if (call.response === undefined) return false;
      const k: Kept = { call, traceId: traceIdOfHeaders(call.requestHeaders), at: now(), body: concat(call.requestBody), isUsed: false };
      kept.push(k);
      if (k.traceId !== undefined) appendTo(byTrace, k.traceId, k);
      evict();
      return true;
    },
    skip() {},
  };

  const toCall = (c: PrimaryCall): OutboundCall => ({
    service: c.service,
    key: `${c.method} ${templatePath(c.url)}`,
    method: c.method,
    url: c.url,
    status: c.response?.status,
  });

  function begin(ex: TeeExchange): LiveMockSession {
    evict();
    let traceId = traceIdOfHeaders(ex.requestHeaders);
    let headers: readonly string[] = ex.requestHeaders;
    let primary: Kept[];
    const to = ex.startedAt + ex.durationMs;
    if (traceId !== undefined) {
      primary = [...(byTrace.get(traceId) ?? [])];
    } else {
      // No trace: the primary's untraced calls made while this request was open.
      primary = kept.filter((k) => k.traceId === undefined && !k.isUsed && k.call.startedAt >= ex.startedAt && k.call.startedAt <= to);
      if (opts.injectTraceparent) {
        traceId = randomBytes(16).toString('hex');
        headers = [...ex.requestHeaders, 'traceparent', `00-${traceId}-${randomBytes(8).toString('hex')}-01`];
      }
    }
    const s: Session = { traceId, from: ex.startedAt, to, primary, candidate: [], isOpen: true };
    if (traceId !== undefined) sessionsByTrace.set(traceId, s);
    else untracedSessions.push(s);
    return {
      headers,
      finish() {
        s.isOpen = false;
        if (s.traceId !== undefined) sessionsByTrace.delete(s.traceId);
        else {
          const i = untracedSessions.indexOf(s);
          if (i !== -1) untracedSessions.splice(i, 1);
        }
        const primary = s.primary.map((k) => toCall(k.call));
        // The relay decodes off the primary's path, so its statements are looked up now, not at begin.
        if (s.traceId !== undefined) for (const c of pgByTrace.get(s.traceId) ?? []) primary.push(c);
        return { primary, candidate: s.candidate };
      },
    };
  }

  /** The best unused recording among `pool` for this call: same method and path, same body preferred. */
  const pick = (pool: readonly Kept[], service: string, method: string, url: string, body: Buffer): Kept | undefined => {
    let loose: Kept | undefined;
    for (const k of pool) {
      const c = k.call;
      if (k.isUsed || c.service !== service || c.method !== method || c.url !== url) continue;
      if (k.body.equals(body)) return k;
      loose ??= k;
    }
    return loose;
  };

  const answer = (name: string, req: IncomingMessage, body: Buffer, res: ServerResponse) => {
    evict();
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const traceId = traceIdOfHeaders(req.rawHeaders);
    let session = traceId === undefined ? undefined : sessionsByTrace.get(traceId);
    let hit: Kept | undefined;
    if (session !== undefined) hit = pick(session.primary, name, method, url, body);
    else if (traceId !== undefined) hit = pick(byTrace.get(traceId) ?? [], name, method, url, body);
    else {
      // Untraced: the open copy that has an unused recording of this call, oldest first.
      for (const s of untracedSessions) {
        hit = pick(s.primary, name, method, url, body);
        if (hit !== undefined) {
          session = s;
          break;
        }
      }
      hit ??= pick(kept, name, method, url, body);
    }
    const call: OutboundCall = { service: name, key: `${method} ${templatePath(url)}`, method, url, status: undefined, isMatched: hit !== undefined };
    session?.candidate.push(call);
    if (hit === undefined) {
      unmatched++;
      opts.metrics.mockRequests.inc({ service: name, protocol: 'http', result: 'unmatched' });
      call.status = 404;
      const msg = JSON.stringify({
        error: 'mock_unmatched',
        message: `no call ${method} ${url} to ${name} by the primary for this request${traceId === undefined ? ' (no traceparent: matched by method, path and time)' : ` (trace ${traceId})`}; live mocks never pass through to the real dependency`,
      });
      res.writeHead(404, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(msg), 'x-doppel-mock': 'unmatched' });
      res.end(msg);
      return;
    }
    hit.isUsed = true;
    matched++;
    opts.metrics.mockRequests.inc({ service: name, protocol: 'http', result: 'matched' });
    const r = hit.call.response as NonNullable<PrimaryCall['response']>;
    call.status = r.status;
    const headers: string[] = [];
    for (let i = 0; i + 1 < r.headers.length; i += 2) {
      if (!FRAMING.has((r.headers[i] as string).toLowerCase())) headers.push(r.headers[i] as string, r.headers[i + 1] as string);
    }
    const resBody = concat(r.body);
    headers.push('content-length', String(resBody.length));
    res.writeHead(r.status, headers);
    res.end(req.method === 'HEAD' ? undefined : resBody);
  };

  async function startMock(name: string, addr: string): Promise<LiveMockServer> {
    const hp = parseHostPort(addr, `--candidate-http-dep ${name}`);
    const sockets = new Set<Socket>();
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let isTooLarge = false;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > opts.maxBodyBytes) isTooLarge = true;
        else chunks.push(c);
      });
      req.on('end', () => {
        if (isTooLarge) {
          res.writeHead(413, { 'content-type': 'application/json', 'x-doppel-mock': 'unmatched' });
          res.end(JSON.stringify({ error: 'body_too_large', message: `request body over ${opts.maxBodyBytes} bytes` }));
          return;
        }
        answer(name, req, concat(chunks), res);
      });
      req.on('error', () => res.destroy());
    });
    server.on('connection', (s: Socket) => {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
    });
    const bound = await listenOn(server, hp, `--candidate-http-dep ${name}=LISTEN (shadow.candidate_http_deps)`);
    servers.push(server);
    const address = formatHostPort({ host: hp.host, port: bound.port });
    log.info({ service: name, address }, 'candidate live mock listening');
    return {
      name,
      address,
      async close() {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const s of sockets) s.destroy();
        await closed;
      },
    };
  }

  function notePgStatement(service: string, st: PgTracedStatement): void {
    const key = st.shape.length > PG_KEY_CHARS ? `${st.shape.slice(0, PG_KEY_CHARS)}...` : st.shape;
    const call: OutboundCall = { service, key, method: st.command.toUpperCase(), url: st.shape, status: undefined, isMatched: st.isMatched };
    if (st.side === 'candidate') {
      sessionsByTrace.get(st.traceId)?.candidate.push(call);
      return;
    }
    pgKept.push({ at: now(), traceId: st.traceId, call });
    appendTo(pgByTrace, st.traceId, call);
    evict();
  }

  return {
    primarySink,
    begin,
    startMock,
    notePgStatement,
    stats: () => ({ kept: kept.length, matched, unmatched, openSessions: sessionsByTrace.size + untracedSessions.length }),
    async close() {
      await Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.close(() => resolve());
              s.closeAllConnections();
            }),
        ),
      );
    },
  };
}
