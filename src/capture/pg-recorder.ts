/**
 * Postgres record relay: a TCP port that forwards every byte to the real
 * server and, off the relay's path, decodes both directions into `pg`
 * exchanges. Bytes are written to the peer first; decoding and recording
 * follow through one bounded queue whose drops are counted
 * (doppel_record_dropped_total{reason}). A connection whose bytes were
 * dropped stops being recorded (its stream can no longer be decoded) but is
 * still relayed.
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import type { HostPort } from '../core/address.js';
import { BoundedQueue } from '../core/bounded-queue.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { PgExchange } from '../core/exchange.js';
import { newExchangeId } from '../core/ids.js';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { storeDropReason, type ExchangeWriter } from '../store/types.js';
import { BackendDecoder } from '../protocols/pg/backend-decoder.js';
import { listenOn } from '../core/listen.js';
import { PeerFailureError, peerFailureReason } from '../core/peer-failure.js';
import { BackendWriter } from '../protocols/pg/backend-encoder.js';
import { DEFAULT_MAX_MESSAGE_BYTES, GSSENC_REQUEST_CODE, SqlState, SSL_REQUEST_CODE } from '../protocols/pg/constants.js';
import { FrontendDecoder } from '../protocols/pg/frontend-decoder.js';
import { pgExchangeLine } from '../protocols/pg/pg-exchange-json.js';
import { PgRecordSession, toPgExchange, type RecordedPg } from '../protocols/pg/record-session.js';
import { copyingReads, readIntoBuffer, type OnChunk } from './socket-reads.js';

export interface PgRecorderOptions {
  /** dependency name, recorded as the exchange's service */
  service: string;
  /**
   * How long relayed chunks wait to be decoded together (default 5 ms). 0 decodes on the next
   * turn: shadow live mocks need the primary's answers before the candidate's copy asks for them.
   */
  drainDelayMs?: number | undefined;
  listen: HostPort;
  /** the flag or config key that moves this listener, named if its address cannot be bound */
  listenFlag?: string | undefined;
  target: HostPort;
  writer: ExchangeWriter;
  log: Logger;
  metrics: Metrics;
  clock?: Clock;
  /** chunks waiting to be decoded (record.queue_items) */
  queueItems?: number;
  /** bytes waiting to be decoded (record.queue_bytes) */
  queueBytes?: number;
  /** a message larger than this stops recording its connection (it is still relayed) */
  maxMessageBytes?: number;
  /** client connections held at once; more are closed as they arrive (record.max_connections) */
  maxConnections?: number | undefined;
  /** a client must send its startup (or SSL/GSS request) within this; the server then bounds its login itself */
  loginTimeoutMs?: number | undefined;
  /** false relays without decoding or recording: the baseline of the bench */
  isRecording?: boolean;
  /** prefixes connection ids (the sessions of pg exchanges), so recorders sharing a store never merge theirs */
  recorderId?: string | undefined;
}

export interface PgRecorder {
  readonly address: AddressInfo;
  /** stops listening, closes every connection and records what was decoded */
  close(): Promise<void>;
  /**
   * The forced stop: decodes what is queued and ends every session now, so
   * their statements reach the writer before it writes synchronously.
   */
  drainSync(): void;
}

interface Conn {
  id: string;
  client: Socket;
  server: Socket | undefined;
  isRecording: boolean;
  frontend: FrontendDecoder;
  backend: BackendDecoder;
  session: PgRecordSession;
  /** the server closed first, or failed: counted once in doppel_upstream_failures_total */
  serverEnd: 'open' | 'closed' | 'failed';
}

interface Tap {
  conn: Conn;
  /** true: client -> server */
  isFrontend: boolean;
  chunk: Buffer;
  at: number;
}

/**
 * Chunks wait this long and are then decoded together. Decoding each turn's
 * few chunks as they came showed in CPU profiles as the relay's cost: cold
 * decoder code and data between socket writes, one more event-loop pass per
 * turn. In batches the decoder runs hot; the bytes were relayed already.
 */
const DRAIN_DELAY_MS = 5;
/** Items decoded per slice; between slices the relay gets its turn, so a backlog never stalls relaying. */
const DRAIN_SLICE = 256;
/** Exchanges handed to the writer in one call at most (a Redis store sends a batch as one script call). */
const HAND_OVER_MAX = 256;

export async function startPgRecorder(opts: PgRecorderOptions): Promise<PgRecorder> {
  const log = opts.log.child({ component: 'pg-recorder', service: opts.service });
  const clock = opts.clock ?? systemClock;
  const wallBase = clock.now() - clock.monotonic();
  const now = () => wallBase + clock.monotonic();
  const maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const drainDelayMs = opts.drainDelayMs ?? DRAIN_DELAY_MS;
  const isRecording = opts.isRecording ?? true;
  const queue = new BoundedQueue<Tap>(opts.queueItems ?? 10_000, opts.queueBytes ?? 32 * 1024 * 1024);
  const maxInFlight = opts.queueItems ?? 10_000;
  const conns = new Set<Conn>();
  let inFlight = 0;
  let idleWaiters: Array<() => void> = [];
  let isDrainScheduled = false;
  let drainTimer: NodeJS.Timeout | undefined;
  let connCounter = 0;
  const runTag = `${opts.recorderId === undefined ? '' : `${opts.recorderId}/`}c-${newExchangeId().slice(-6).toLowerCase()}`;

  const dropped = (reason: string) => opts.metrics.recordDropped.inc({ reason });
  const upstreamFailed = (err: unknown) => opts.metrics.upstreamFailures.inc({ service: opts.service, reason: peerFailureReason(err) });
  // Bound once: labelled inc() hashes its label object on every call.
  const recorded = opts.metrics.exchangesRecorded.labels({ service: opts.service, direction: 'outbound', protocol: 'pg' });

  function settled(n: number): void {
    inFlight -= n;
    if (inFlight > 0 || idleWaiters.length === 0) return;
    const ws = idleWaiters;
    idleWaiters = [];
    for (const w of ws) w();
  }

  // Exchanges finished since the last hand-over: the writer gets them as one
  // batch with one promise (a promise per exchange showed in CPU profiles).
  let batch: PgExchange[] = [];
  /** their store lines, built here from the known shape (cheaper than JSON.stringify, same text) */
  let lines: string[] = [];
  let isHandOverQueued = false;
  const appendBatch = opts.writer.appendBatch?.bind(opts.writer);

  function write(rec: RecordedPg): void {
    if (inFlight + batch.length >= maxInFlight) {
      dropped('queue_full');
      return;
    }
    const ex = toPgExchange(rec, opts.service);
    batch.push(ex);
    if (appendBatch !== undefined) lines.push(pgExchangeLine(ex));
    if (batch.length >= HAND_OVER_MAX) handOver();
    else if (!isHandOverQueued) {
      isHandOverQueued = true;
      queueMicrotask(handOver);
    }
  }

  function handOver(): void {
    isHandOverQueued = false;
    const n = batch.length;
    if (n === 0) return;
    const exchanges = batch;
    const encoded = lines;
    batch = [];
    lines = [];
    inFlight += n;
    if (appendBatch === undefined) {
      for (const ex of exchanges) opts.writer.append(ex).then(() => appended(1), (err: unknown) => appendFailed(err, 1));
      return;
    }
    appendBatch(exchanges, encoded).then(
      () => appended(n),
      (err: unknown) => appendFailed(err, n),
    );
  }

  function appended(n: number): void {
    recorded.inc(n);
    settled(n);
  }

  function appendFailed(err: unknown, n: number): void {
    opts.metrics.recordDropped.inc({ reason: storeDropReason(err) }, n);
    log.warn({ err, exchanges: n }, 'recording pg exchanges failed');
    settled(n);
  }

  function stopRecording(conn: Conn, reason: string, err?: unknown): void {
    if (!conn.isRecording) return;
    conn.isRecording = false;
    dropped(reason);
    log.warn({ connection: conn.id, reason, err }, 'stopped recording a pg connection; it is still relayed');
  }

  function decode(t: Tap): void {
    const c = t.conn;
    if (!c.isRecording) return;
    try {
      if (t.isFrontend) {
        c.frontend.push(t.chunk);
        for (let m = c.frontend.next(); m !== undefined; m = c.frontend.next()) {
          if (m.type === 'decodeError') {
            stopRecording(c, m.kind === 'messageTooLong' ? 'too_large' : 'decode_error');
            return;
          }
          c.session.onFrontend(m, t.at);
        }
      } else {
        c.backend.push(t.chunk);
        for (let m = c.backend.next(); m !== undefined; m = c.backend.next()) c.session.onBackend(m, t.at);
      }
    } catch (err) {
      stopRecording(c, peerFailureReason(err) === 'too_large' ? 'too_large' : 'decode_error', err);
    }
  }

  function drain(): void {
    drainTimer = undefined;
    for (let i = 0; i < DRAIN_SLICE; i++) {
      const t = queue.poll();
      if (t === undefined) {
        isDrainScheduled = false;
        return;
      }
      decode(t);
    }
    // A backlog: the next slice after the relay's next turn.
    setImmediate(drain);
  }

  function scheduleDrain(): void {
    if (isDrainScheduled) {
      // A burst (COPY, large results) filling the queue is decoded now rather than dropped.
      if (drainTimer !== undefined && (queue.length * 4 > queue.maxItems || queue.bytes * 4 > queue.maxBytes)) {
        clearTimeout(drainTimer);
        drainTimer = undefined;
        setImmediate(drain);
      }
      return;
    }
    isDrainScheduled = true;
    if (drainDelayMs === 0) setImmediate(drain);
    else drainTimer = setTimeout(drain, drainDelayMs);
  }

  function tap(conn: Conn, isFrontend: boolean, chunk: Buffer): void {
    if (!conn.isRecording) return;
    if (!queue.offer({ conn, isFrontend, chunk, at: now() }, chunk.length)) {
      stopRecording(conn, 'queue_full');
      return;
    }
    scheduleDrain();
  }

  function startRelay(conn: Conn, initial: Buffer): void {
    const client = conn.client;
    const server = connect({ host: opts.target.host, port: opts.target.port, noDelay: true, onread: copyingReads(forwarder(conn, false)) });
    conn.server = server;
    server.on('error', (err) => {
      log.debug({ connection: conn.id, err }, 'pg server connection error');
      if (conn.serverEnd === 'open' && !client.destroyed) {
        conn.serverEnd = 'failed';
        upstreamFailed(err);
      }
      client.destroy();
    });
    server.on('close', () => {
      if (!client.destroyed) {
        if (conn.serverEnd === 'open') conn.serverEnd = 'closed';
        client.end();
      }
      finish(conn);
    });
    client.on('close', () => {
      if (!server.destroyed) server.end();
    });
    if (initial.length > 0) {
      server.write(initial);
      if (isRecording) tap(conn, true, initial);
    }
    const fromClient = forwarder(conn, true);
    // A Node whose accepted sockets cannot take a buffer relays the client's side from 'data' events.
    if (!readIntoBuffer(client, fromClient)) {
      client.on('data', (chunk: Buffer) => {
        if (!fromClient(chunk)) client.pause();
      });
    }
    client.resume();
  }

  /**
   * Both sides are read into one shared buffer and copied out at the size
   * read (capture/socket-reads.ts), not allocated per read and pushed
   * through the stream machinery. pgbench -S -M simple through a relay doing
   * only this, against pipe(): 1.1-2.6 us less CPU per transaction in 5 of 6
   * rounds with the server's side alone; with both sides 1.2-9.7 us less in
   * 4 of 5 rounds (medians 36.5 against 42.3 us). The copy is what the peer
   * is sent and what the recorder decodes, so no write still pending can
   * point into the buffer the next read fills. Bytes are forwarded before
   * they are tapped: the recorder never holds the client's bytes back.
   */
  function forwarder(conn: Conn, isFrontend: boolean): OnChunk {
    return (chunk) => {
      const to = isFrontend ? conn.server : conn.client;
      const from = isFrontend ? conn.client : conn.server;
      if (to === undefined || from === undefined) return true;
      const isWritable = to.write(chunk);
      if (isRecording) tap(conn, isFrontend, chunk);
      if (isWritable) return true;
      to.once('drain', () => from.resume());
      // false stops reading until the peer has taken what is queued.
      return false;
    };
  }

  function finish(conn: Conn): void {
    if (!conns.delete(conn)) return;
    // Everything already queued for this connection is decoded before its session closes.
    if (conn.isRecording) queue.offer({ conn, isFrontend: true, chunk: Buffer.alloc(0), at: now() });
    setImmediate(() => {
      drainAll();
      // A server that closed with part of a message sent (a crash, a cut link) failed mid-answer.
      if (conn.serverEnd === 'closed' && conn.isRecording && conn.backend.pendingBytes > 0) upstreamFailed(new PeerFailureError('reset', 'the server closed mid-message'));
      conn.session.close();
    });
  }

  function drainAll(): void {
    for (let t = queue.poll(); t !== undefined; t = queue.poll()) decode(t);
  }

  function onConnection(client: Socket): void {
    client.setNoDelay(true);
    const id = `${runTag}-${++connCounter}`;
    const conn: Conn = {
      id,
      client,
      server: undefined,
      isRecording,
      // Views, not copies: the session turns each parameter into its recorded value at once.
      frontend: new FrontendDecoder({ maxMessageBytes, copiesValues: false }),
      backend: new BackendDecoder({ maxMessageBytes }),
      session: new PgRecordSession({ connection: id, emit: write }),
      serverEnd: 'open',
    };
    conns.add(conn);
    let pre: Buffer = Buffer.alloc(0);
    // A client that connects and sends nothing never reaches the server: only doppel would hold it.
    const login =
      opts.loginTimeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            log.debug({ connection: id, timeoutMs: opts.loginTimeoutMs }, 'pg client sent no startup in time; closed');
            client.destroy();
          }, opts.loginTimeoutMs);
    // SSLRequest and GSSENCRequest are answered here with 'N' (PostgreSQL docs,
    // "SSL Session Encryption"): the relay talks plain TCP to the server.
    const onNegotiate = (chunk: Buffer) => {
      pre = pre.length === 0 ? chunk : Buffer.concat([pre, chunk]);
      while (pre.length >= 8) {
        const len = pre.readInt32BE(0);
        const code = pre.readInt32BE(4);
        if (len === 8 && (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE)) {
          client.write('N');
          pre = pre.subarray(8);
          if (pre.length > 0) {
            // Plaintext already behind the request is refused, as postmaster.c does (CVE-2021-23214).
            const what = code === SSL_REQUEST_CODE ? 'SSL' : 'GSSAPI encryption';
            client.end(
              new BackendWriter()
                .errorResponse({ severity: 'FATAL', code: SqlState.protocolViolation, message: `received unencrypted data after ${what} request` })
                .take(),
            );
            client.off('data', onNegotiate);
            return;
          }
          continue;
        }
        break;
      }
      if (pre.length >= 8) {
        clearTimeout(login);
        client.off('data', onNegotiate);
        client.pause();
        startRelay(conn, pre);
      }
    };
    client.on('data', onNegotiate);
    client.on('error', (err) => log.debug({ connection: id, err }, 'pg client connection error'));
    client.on('close', () => {
      clearTimeout(login);
      if (conn.server === undefined) conns.delete(conn);
    });
  }

  const server: Server = createServer({ noDelay: true }, onConnection);
  if (opts.maxConnections !== undefined) server.maxConnections = opts.maxConnections;
  const address = await listenOn(server, opts.listen, opts.listenFlag ?? `--pg-dep ${opts.service}=LISTEN,HOST:PORT`);
  server.on('error', (err) => log.error({ err }, 'pg recorder listener error'));
  log.info({ listen: `${address.address}:${address.port}`, target: `${opts.target.host}:${opts.target.port}` }, 'pg record relay listening');

  return {
    address,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const c of conns) {
          c.client.destroy();
          c.server?.destroy();
        }
      });
      drainAll();
      for (const c of conns) c.session.close();
      conns.clear();
      await new Promise((r) => setImmediate(r));
      drainAll();
      handOver();
      if (inFlight > 0) await new Promise<void>((r) => idleWaiters.push(r));
    },
    drainSync() {
      drainAll();
      for (const c of conns) c.session.close();
      conns.clear();
      handOver();
    },
  };
}
