/**
 * HTTP/2 next to HTTP/1.1 on one listener (RFC 9113 §3): over TLS the client
 * picks h2 or http/1.1 by ALPN; in clear text a client with prior knowledge
 * opens with the connection preface (§3.4), which no HTTP/1.1 request line
 * can start with, so the first bytes decide. Either way the socket goes to
 * Node's http2 server or to the HTTP/1.1 server's own connection handling,
 * and HTTP/2 requests come out as the HTTP/1.1 server's 'request' event
 * (compatibility API), so each listener keeps one request handler, unless
 * the listener takes the streams themselves (`onStream`).
 *
 * The HTTP/1.1 path stays Node's: the socket is handed to the same
 * connection listener the server would have run, after one look at the first
 * chunk on clear-text connections (none over TLS, where ALPN already said).
 */
import type { Server as HttpServer } from 'node:http';
import {
  createServer as createH2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from './logger.js';

export interface Http2ListenerOptions {
  /** false: HTTP/1.1 only (and ALPN offers http/1.1 only) */
  enabled?: boolean | undefined;
  /** SETTINGS_MAX_CONCURRENT_STREAMS this listener advertises (RFC 9113 §6.5.2); Node's default is unbounded */
  maxConcurrentStreams?: number | undefined;
  /**
   * Takes each HTTP/2 stream as it opens instead of the 'request' event: Node only builds the
   * compatibility API's req/res when its http2 server has a 'request' listener, and a proxy that
   * relays streams as they come pays for neither. `rawHeaders` is the flat name/value list as received.
   */
  onStream?: ((stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[]) => void) | undefined;
}

/** RFC 9113 §3.4: the client connection preface starts with this octet sequence. */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

type ConnectionListener = (this: HttpServer, socket: Socket) => void;

/** The listener Node's http/https server registered for its connection event; taken off so the socket can go elsewhere first. */
function takeListener(server: HttpServer, event: 'connection' | 'secureConnection'): ConnectionListener {
  const listeners = server.listeners(event) as ConnectionListener[];
  const own = listeners[0];
  if (own === undefined) throw new Error(`http server without a ${event} listener`);
  server.removeListener(event, own);
  return own;
}

/**
 * Reads until the first bytes either differ from the preface (HTTP/1.x) or
 * are all of it (HTTP/2), then puts them back and hands the socket on.
 */
function sniff(socket: Socket, decide: (isH2: boolean) => void): void {
  let seen: Buffer | undefined;
  const onData = (chunk: Buffer) => {
    seen = seen === undefined ? chunk : Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, PREFACE.length);
    const same = seen.compare(PREFACE, 0, n, 0, n) === 0;
    if (same && n < PREFACE.length) return;
    socket.off('data', onData);
    // Paused, the bytes put back stay buffered until the new owner resumes the socket.
    socket.pause();
    socket.unshift(seen);
    decide(same);
  };
  socket.on('data', onData);
}

/** Adds HTTP/2 to an HTTP/1.1 server made by createHttpListener (`tls`: it is an https server). */
export function addHttp2(server: HttpServer, tls: boolean, log: Logger | undefined, opts: Http2ListenerOptions): void {
  const h2 = createH2Server(opts.maxConcurrentStreams === undefined ? {} : { settings: { maxConcurrentStreams: opts.maxConcurrentStreams } });
  const sessions = new Set<ServerHttp2Session>();
  h2.on('session', (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  h2.on('sessionError', (err: NodeJS.ErrnoException) => {
    log?.debug({ code: err.code, reason: err.message }, 'http2 session error');
  });
  const onStream = opts.onStream;
  if (onStream !== undefined) {
    h2.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
      onStream(stream, headers, rawHeaders);
    });
  } else {
    h2.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) => {
      server.emit('request', req, res);
    });
  }

  if (tls) {
    const http1 = takeListener(server, 'secureConnection');
    server.on('secureConnection', (socket: TLSSocket) => {
      if (socket.alpnProtocol === 'h2') h2.emit('connection', socket);
      else http1.call(server, socket);
    });
  } else {
    const http1 = takeListener(server, 'connection');
    server.prependListener('connection', (socket: Socket) => {
      sniff(socket, (isH2) => {
        // The http2 session reads what is buffered itself (on the next tick); HTTP/1.1 reads it once resumed.
        if (isH2) h2.emit('connection', socket);
        else {
          http1.call(server, socket);
          socket.resume();
        }
      });
    });
  }

  // close() waits for every connection: idle sessions get GOAWAY now, busy ones once their streams end.
  const closeIdle = server.closeIdleConnections.bind(server);
  server.closeIdleConnections = () => {
    for (const s of sessions) s.close();
    closeIdle();
  };
  const closeAll = server.closeAllConnections.bind(server);
  server.closeAllConnections = () => {
    for (const s of sessions) s.destroy();
    closeAll();
  };
}
