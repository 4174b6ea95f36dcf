/**
 * The recorder: takes finished exchanges from the proxy path through a
 * bounded queue and writes them to the store off that path. Redaction,
 * session keys and body encoding happen here, not while the client waits.
 * JSON-path redaction reads a compressed body decoded and stores it
 * re-encoded in the same coding (core/redact.ts redactBody).
 * When the queue, the store or the disk quota cannot take more, the exchange
 * is dropped and counted (doppel_record_dropped_total{reason}); proxying goes on.
 */
import { BoundedQueue } from '../core/bounded-queue.js';
import { isoTime } from '../core/iso-time.js';
import { encodeBody, EXCHANGE_FORMAT_VERSION, type Direction, type Exchange, type HttpExchange, type HttpResponseRecord } from '../core/exchange.js';
import type { Logger } from '../core/logger.js';
import { contentEncodingOfRaw, DEFAULT_DECODE_LIMIT } from '../core/content-coding.js';
import { redactBody, type Redactor } from '../core/redact.js';
import type { SessionKeyer } from '../core/sessions.js';
import { encodeExchange } from '../store/codec.js';
import { storeDropReason, type ExchangeWriter, type LastFlush } from '../store/types.js';
import type { Metrics } from '../metrics/metrics.js';
import { toPairs } from '../protocols/http/hop-by-hop.js';
import type { InboundLink } from '../protocols/http/trace-links.js';
import { converterFor, type ExchangeConverter } from './exchange-converters.js';

/** A finished HTTP exchange as the proxy saw it: raw lists and body chunks, nothing encoded yet. */
export interface RawHttpExchange {
  id: string;
  direction: Direction;
  service: string;
  startedAt: number;
  durationMs: number;
  connectionId: string;
  /** the inbound exchange of the same trace (outbound calls), when known */
  parent: InboundLink | undefined;
  method: string;
  url: string;
  /** "2" for an HTTP/2 request; absent for HTTP/1.x */
  version?: '2' | undefined;
  /** HTTP/2's :authority */
  authority?: string | undefined;
  requestHeaders: readonly string[];
  requestBody: readonly Buffer[];
  requestTruncated: boolean;
  response:
    | {
        status: number;
        headers: readonly string[];
        trailers: readonly string[] | undefined;
        body: readonly Buffer[];
        truncated: boolean;
      }
    | undefined;
  error: { code: string; message: string } | undefined;
  tags?: Record<string, string>;
}

export type DropReason = 'queue_full' | 'quota' | 'sampled_out' | 'filtered' | 'paused' | 'store_error' | 'spool_full';

/** What the proxy path needs: a non-blocking offer and the paused switch. */
export interface CaptureSink {
  readonly isPaused: boolean;
  /** never blocks; false when dropped (and counted) */
  offer(raw: RawHttpExchange): boolean;
  /** counts an exchange not recorded by decision (filter, sampling, pause) */
  skip(reason: DropReason): void;
  /**
   * Asked when a request the decision keeps starts: false when the sink could not
   * take its exchange anyway (it counted the drop itself), so the proxy does not
   * copy bodies or build an exchange that would only be thrown away.
   */
  admit?(): boolean;
}

export interface RecorderOptions {
  writer: ExchangeWriter;
  log: Logger;
  metrics: Metrics;
  redactor: Redactor;
  sessionKeyer: SessionKeyer;
  queueItems: number;
  queueBytes: number;
  /** stop recording once the store holds this many bytes */
  quotaBytes?: number | undefined;
  /** most bytes handed to the writer and not yet written */
  maxInFlightBytes?: number;
  /** decode cap of compressed bodies searched for redact.json_paths (compare.max_body_bytes; default 1mb) */
  maxDecodedBytes?: number;
  /** exchanges of other protocols carried over HTTP (gRPC), chosen by request content type */
  converters?: readonly ExchangeConverter[] | undefined;
}

export interface Recorder extends CaptureSink {
  pause(): void;
  resume(): void;
  status(): Record<string, unknown>;
  /** waits until everything offered so far is written and durable */
  flush(): Promise<void>;
  /** drains the queue, flushes and closes the writer */
  close(): Promise<void>;
  /**
   * The forced stop: encodes what is queued and has the writer write it with
   * everything it holds, synchronously, until `deadline` (epoch ms). Undefined
   * when the writer has no synchronous path.
   */
  flushSync(deadline: number): LastFlush | undefined;
}

function concat(chunks: readonly Buffer[]): Buffer {
  if (chunks.length === 1) return chunks[0] as Buffer;
  return Buffer.concat(chunks);
}

function bodySize(chunks: readonly Buffer[]): number {
  let n = 0;
  for (const c of chunks) n += c.length;
  return n;
}

/** A body cut at max_body_bytes, of an HTTP exchange or of a gRPC call the proxy carried. */
function isTruncated(ex: Exchange): boolean {
  if (ex.protocol === 'http') return ex.http.request.truncated || ex.http.response?.truncated === true;
  if (ex.protocol === 'grpc') return ex.grpc.request.truncated || ex.grpc.response?.truncated === true;
  return false;
}

/**
 * Encoding time per event-loop turn. A fixed count per turn (16) fell behind
 * a proxy answering 14k requests/s on one core: the queue held 1,000-2,200
 * exchanges, they outlived young-generation collections, and the scavenges
 * copying them cost 4-5 µs per request (2 µs for the plain proxy) while the
 * heap grew to 87 MB. A time budget drains a 5 ms batch in one pass under load
 * and still hands the thread back within a millisecond to a real backlog.
 */
const DRAIN_BUDGET_MS = 1;
/**
 * Exchanges wait this long and are then encoded together. Encoding the one
 * or two finished in each turn, right after it, kept the encoder cold between
 * socket writes and added an event-loop pass per turn; the proxy's CPU
 * profile showed it. A backlog still goes one time budget per turn.
 */
const DRAIN_DELAY_MS = 5;

export function createRecorder(opts: RecorderOptions): Recorder {
  const { writer, log, metrics, redactor, sessionKeyer } = opts;
  const queue = new BoundedQueue<RawHttpExchange>(opts.queueItems, opts.queueBytes);
  const maxInFlight = opts.maxInFlightBytes ?? 8 * 1024 * 1024;
  let paused = false;
  let quotaReached = false;
  let inFlightBytes = 0;
  let pending = 0;
  let drainScheduled = false;
  let closed = false;
  let recorded = 0;
  let dropped = 0;
  let idleWaiters: Array<() => void> = [];
  let storeErrorLogged = false;
  const maxDecoded = opts.maxDecodedBytes ?? DEFAULT_DECODE_LIMIT;
  let undecodedLogged = false;

  const redactPart = (body: Buffer, headers: readonly string[], id: string): Buffer => {
    if (body.length === 0 || redactor.jsonPaths.length === 0) return body;
    const r = redactBody(redactor, body, contentEncodingOfRaw(headers), maxDecoded);
    if (r.undecoded !== undefined) {
      metrics.bodyDecodeFailures.inc({ stage: 'record', reason: r.undecoded.reason });
      if (!undecodedLogged) {
        undecodedLogged = true;
        log.warn({ id, why: r.undecoded.message }, 'a compressed body did not decode: stored as received, its JSON paths not redacted');
      }
    }
    return r.body;
  };

  const drop = (reason: DropReason) => {
    dropped++;
    metrics.recordDropped.inc({ reason });
  };

  const settleIdle = () => {
    if (queue.length === 0 && pending === 0) {
      const w = idleWaiters;
      idleWaiters = [];
      for (const f of w) f();
    }
  };

  const encodesHere = opts.quotaBytes !== undefined || writer.appendBatch !== undefined;
  let drainTimer: NodeJS.Timeout | undefined;
  // A queue a quarter full is drained at once, so bursts of large bodies are written rather than dropped;
  // so are a backlog, flush() and close(), also when the batching delay is already running.
  const scheduleDrain = (isBacklog = false) => {
    const isUrgent = isBacklog || queue.length * 4 > queue.maxItems || queue.bytes * 4 > queue.maxBytes;
    if (drainScheduled) {
      if (isUrgent && drainTimer !== undefined) {
        clearTimeout(drainTimer);
        drainTimer = undefined;
        setImmediate(drain);
      }
      return;
    }
    drainScheduled = true;
    if (isUrgent) setImmediate(drain);
    else drainTimer = setTimeout(drain, DRAIN_DELAY_MS);
  };

  function drain(): void {
    drainScheduled = false;
    drainTimer = undefined;
    // Only hand the writer a bounded amount at a time: the queue is the memory bound.
    // And only a time budget per turn of the event loop: encoding shares the thread with proxying,
    // so a backlog must not hold client responses back.
    const until = performance.now() + DRAIN_BUDGET_MS;
    let n = 0;
    const batch: Exchange[] = [];
    let lines: string[] | undefined;
    let batchBytes = 0;
    while (queue.length > 0 && inFlightBytes + batchBytes < maxInFlight) {
      // The clock is read before every exchange (tens of ns against microseconds of encoding), so a
      // turn of large bodies stops one exchange past the budget, not several.
      if (n > 0 && performance.now() > until) break;
      const raw = queue.poll() as RawHttpExchange;
      n++;
      const ex = prepare(raw);
      if (ex === undefined) continue;
      if (encodesHere) {
        // Encoded here, within the turn's budget, rather than by the writer after it. The quota
        // needs the encoded size now; the writer is handed the same text.
        const line = encodeExchange(ex);
        if (opts.quotaBytes !== undefined) quotaUsed += Buffer.byteLength(line) + 1;
        (lines ??= []).push(line);
      }
      batch.push(ex);
      batchBytes += bodySize(raw.requestBody) + (raw.response ? bodySize(raw.response.body) : 0) + 512;
    }
    if (batch.length > 0) hand(batch, lines, batchBytes);
    if (queue.length > 0 && inFlightBytes < maxInFlight) scheduleDrain(true);
    settleIdle();
  }

  // Bound once per service and direction: a labelled inc() hashes its label object on every call.
  const recordedCounters = new Map<string, ReturnType<Metrics['exchangesRecorded']['labels']>>();
  function recordedCounter(service: string, direction: Direction, protocol: Exchange['protocol']): ReturnType<Metrics['exchangesRecorded']['labels']> {
    const key = `${protocol} ${direction} ${service}`;
    let c = recordedCounters.get(key);
    if (c === undefined) {
      c = metrics.exchangesRecorded.labels({ service, direction, protocol });
      recordedCounters.set(key, c);
    }
    return c;
  }

  // The writer's own counter lags while a batch is being written; keep an exact tally for the quota.
  let quotaUsed = writer.bytesWritten;

  /** The exchange as stored, or undefined when it was dropped (quota, encoding failure) and counted. */
  function prepare(raw: RawHttpExchange): Exchange | undefined {
    if (opts.quotaBytes !== undefined && Math.max(quotaUsed, writer.bytesWritten) >= opts.quotaBytes) {
      if (!quotaReached) {
        quotaReached = true;
        log.warn({ quotaBytes: opts.quotaBytes }, 'record quota reached: recording stops, proxying goes on');
      }
      drop('quota');
      return undefined;
    }
    try {
      return encode(raw);
    } catch (err) {
      log.error({ err, id: raw.id }, 'cannot encode exchange');
      drop('store_error');
      return undefined;
    }
  }

  /**
   * One drain's exchanges go to the writer as one batch with one promise: a
   * promise chain per exchange showed in the proxy's CPU profile.
   */
  function hand(batch: Exchange[], lines: string[] | undefined, bytes: number): void {
    inFlightBytes += bytes;
    pending += batch.length;
    const written =
      writer.appendBatch === undefined
        ? // A writer without batches settles each exchange on its own, as append() always did.
          Promise.allSettled(batch.map((ex) => writer.append(ex))).then((rs) => {
            for (let i = 0; i < rs.length; i++) {
              const r = rs[i] as PromiseSettledResult<void>;
              if (r.status === 'fulfilled') written1(batch[i] as Exchange);
              else failed(1, r.reason);
            }
          })
        : writer.appendBatch(batch, lines).then(
            () => {
              for (const ex of batch) written1(ex);
            },
            (err: unknown) => failed(batch.length, err),
          );
    void written.finally(() => {
      inFlightBytes -= bytes;
      pending -= batch.length;
      if (queue.length > 0) scheduleDrain(true);
      else settleIdle();
    });
  }

  function written1(ex: Exchange): void {
    recorded++;
    recordedCounter(ex.service, ex.direction, ex.protocol).inc();
    if (isTruncated(ex)) metrics.exchangesTruncated.inc({ service: ex.service });
  }

  function failed(n: number, err: unknown): void {
    const reason = storeDropReason(err);
    for (let i = 0; i < n; i++) drop(reason);
    if (!storeErrorLogged) {
      storeErrorLogged = true;
      log.error({ err }, 'traffic store write failed: recording drops, proxying goes on');
    }
  }

  /** The stored exchange: HTTP, or what a converter for its content type makes of it (gRPC). */
  function encode(raw: RawHttpExchange): Exchange {
    const http = toExchange(raw);
    const convert = converterFor(opts.converters, http);
    return convert === undefined ? http : convert(http);
  }

  function toExchange(raw: RawHttpExchange): HttpExchange {
    const session =
      raw.parent !== undefined
        ? sessionKeyer({ rawHeaders: raw.parent.rawHeaders, connectionId: raw.parent.connectionId, exchangeId: raw.parent.id })
        : sessionKeyer({ rawHeaders: raw.requestHeaders, connectionId: raw.connectionId, exchangeId: raw.id });
    const reqBodyRaw = concat(raw.requestBody);
    const reqBody = raw.requestTruncated ? reqBodyRaw : redactPart(reqBodyRaw, raw.requestHeaders, raw.id);
    let response: HttpResponseRecord | null = null;
    if (raw.response) {
      const r = raw.response;
      const resBodyRaw = concat(r.body);
      const resBody = r.truncated ? resBodyRaw : redactPart(resBodyRaw, r.headers, raw.id);
      response = {
        status: r.status,
        headers: redactor.headers(toPairs(r.headers)),
        ...(r.trailers && r.trailers.length > 0 ? { trailers: redactor.headers(toPairs(r.trailers)) } : {}),
        ...encodeBody(resBody),
        truncated: r.truncated,
      };
    }
    return {
      v: EXCHANGE_FORMAT_VERSION,
      id: raw.id,
      session,
      parent: raw.parent?.id ?? null,
      direction: raw.direction,
      service: raw.service,
      protocol: 'http',
      startedAt: isoTime(raw.startedAt),
      durationMs: Math.round(raw.durationMs * 1000) / 1000,
      http: {
        version: raw.version ?? '1.1',
        request: {
          method: raw.method,
          url: redactor.url(raw.url),
          ...(raw.authority === undefined ? {} : { authority: raw.authority }),
          headers: redactor.headers(toPairs(raw.requestHeaders)),
          ...encodeBody(reqBody),
          truncated: raw.requestTruncated,
        },
        response,
        ...(raw.error ? { error: raw.error } : {}),
      },
      tags: raw.tags ?? {},
    };
  }

  return {
    get isPaused() {
      return paused || quotaReached || closed;
    },
    offer(raw) {
      if (closed) {
        drop('paused');
        return false;
      }
      const size = bodySize(raw.requestBody) + (raw.response ? bodySize(raw.response.body) : 0);
      if (!queue.offer(raw, size)) {
        drop('queue_full');
        return false;
      }
      scheduleDrain();
      return true;
    },
    skip(reason) {
      drop(reason);
    },
    pause() {
      if (!paused) log.info('recording paused');
      paused = true;
    },
    resume() {
      if (paused) log.info('recording resumed');
      paused = false;
    },
    status() {
      return {
        paused,
        quotaReached,
        queued: queue.length,
        recorded,
        dropped,
        bytesWritten: writer.bytesWritten,
        ...(writer.spoolState === undefined ? {} : { spool: writer.spoolState() }),
        ...(opts.quotaBytes === undefined ? {} : { quotaBytes: opts.quotaBytes }),
      };
    },
    async flush() {
      if (queue.length > 0 || pending > 0) {
        await new Promise<void>((resolve) => {
          idleWaiters.push(resolve);
          scheduleDrain(true);
        });
      }
      await writer.flush();
    },
    flushSync(deadline) {
      if (writer.flushSync === undefined) return undefined;
      closed = true;
      let left = 0;
      for (let raw = queue.poll(); raw !== undefined; raw = queue.poll()) {
        if (Date.now() > deadline) {
          left++;
          continue;
        }
        try {
          // The appends never settle: the process ends once the writer returns.
          writer.append(encode(raw)).catch(() => undefined);
        } catch {
          left++;
        }
      }
      const r = writer.flushSync(deadline);
      return left === 0 ? r : { ...r, lost: r.lost + left, reason: r.reason ?? 'out of time' };
    },
    async close() {
      if (closed) return;
      // accept nothing new, write what is queued, then close the store
      if (queue.length > 0 || pending > 0) {
        await new Promise<void>((resolve) => {
          idleWaiters.push(resolve);
          scheduleDrain(true);
        });
      }
      closed = true;
      await writer.close();
    },
  };
}
