/**
 * GoReplay's file format (https://github.com/buger/goreplay/wiki, "Saving and
 * replaying from file"): payloads separated by "\n🐵🙈🙉\n"; each starts with
 * a header line "TYPE ID TIMESTAMP LATENCY" (type 1 request, 2 original
 * response, 3 replayed response; ID pairs a request with its responses;
 * TIMESTAMP in Unix nanoseconds; LATENCY in nanoseconds) followed by the raw
 * HTTP/1.1 message. Requests and original responses are paired by ID into
 * inbound exchanges; the file is read as a stream.
 */
import { createReadStream } from 'node:fs';
import { encodeBody, type HttpExchange } from '../core/exchange.js';
import { newExchangeId } from '../core/ids.js';
import { HttpMessageError, parseHttpRequest, parseHttpResponse, type ParsedHttp1Request } from './http1-message.js';
import type { FormatReport } from './import-report.js';
import { note } from './import-report.js';

export const GOR_SEPARATOR = Buffer.from('\n🐵🙈🙉\n', 'utf8');
// older GoReplay versions write the header line without LATENCY
const HEADER_LINE = /^([123]) ([0-9A-Za-z]+) (\d{1,20})(?: (-?\d{1,20}))?$/;

/** A payload, or the size of one too large to hold that was passed over. */
export type GorPayload = { bytes: Buffer } | { oversized: number };

/** GoReplay's default --output-file-max-size cap is far below this; a payload past it is skipped, not held. */
export const GOR_MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;

/** The last `n` bytes held in `parts` (n is below the separator length, so this stays small). */
function lastBytes(parts: readonly Buffer[], n: number): Buffer {
  const out: Buffer[] = [];
  let need = n;
  for (let i = parts.length - 1; i >= 0 && need > 0; i--) {
    const p = parts[i] as Buffer;
    const take = Math.min(need, p.length);
    out.unshift(p.subarray(p.length - take));
    need -= take;
  }
  return Buffer.concat(out);
}

/**
 * The payloads of a .gor file, one at a time, without reading the file whole.
 * Chunks of a payload are kept in a list and joined once, when its
 * separator arrives; only the few bytes where a separator may straddle two
 * chunks are searched twice.
 */
export async function* readGorPayloads(file: string, maxBytes = GOR_MAX_PAYLOAD_BYTES): AsyncGenerator<GorPayload> {
  let parts: Buffer[] = [];
  let held = 0;
  let dropped = 0;
  const overlap = GOR_SEPARATOR.length - 1;
  for await (const chunk of createReadStream(file)) {
    let buf = chunk as Buffer;
    for (;;) {
      const tail = held > 0 ? lastBytes(parts, overlap) : Buffer.alloc(0);
      const probe = tail.length > 0 ? Buffer.concat([tail, buf]) : buf;
      const at = probe.indexOf(GOR_SEPARATOR);
      if (at === -1) {
        parts.push(buf);
        held += buf.length;
        if (held > maxBytes) {
          // keep only what may hold the start of a separator
          const keep = lastBytes(parts, overlap);
          dropped += held - keep.length;
          parts = [keep];
          held = keep.length;
        }
        break;
      }
      const cut = at - tail.length; // where the separator starts in buf; negative: in the held bytes
      if (dropped > 0) yield { oversized: dropped + held + cut };
      else {
        const joined = Buffer.concat(cut >= 0 ? [...parts, buf.subarray(0, cut)] : parts);
        yield { bytes: cut >= 0 ? joined : joined.subarray(0, held + cut) };
      }
      parts = [];
      held = 0;
      dropped = 0;
      buf = buf.subarray(cut + GOR_SEPARATOR.length);
    }
  }
  if (dropped > 0) yield { oversized: dropped + held };
  else if (held > 0) yield { bytes: Buffer.concat(parts) };
}

interface Pending {
  index: number;
  ts: number;
  req: ParsedHttp1Request;
}

function nsToMs(ns: string): number {
  return Number(BigInt(ns) / 1000n) / 1000;
}

function toExchange(p: Pending, service: string | undefined, res: { status: number; headers: Array<[string, string]>; trailers: Array<[string, string]>; body: Buffer } | null, durationMs: number): HttpExchange {
  const id = newExchangeId(Math.floor(p.ts));
  const host = p.req.headers.find(([k]) => k.toLowerCase() === 'host')?.[1];
  return {
    v: 1,
    id,
    session: id,
    parent: null,
    direction: 'inbound',
    service: service ?? host?.replace(/:\d+$/, '') ?? 'gor',
    protocol: 'http',
    startedAt: new Date(Math.floor(p.ts)).toISOString(),
    durationMs,
    tags: { source: 'gor' },
    http: {
      request: { method: p.req.method, url: p.req.url, headers: p.req.headers, ...encodeBody(p.req.body), truncated: false },
      response:
        res === null ? null : { status: res.status, headers: res.headers, ...(res.trailers.length > 0 ? { trailers: res.trailers } : {}), ...encodeBody(res.body), truncated: false },
      ...(res === null ? { error: { code: 'NO_RESPONSE', message: 'no original response (type 2) in the .gor file' } } : {}),
    },
  };
}

/**
 * Inbound exchanges of a .gor file, emitted when the original response
 * arrives; requests never answered come last, without a response.
 */
export async function* gorToExchanges(file: string, service: string | undefined, report: FormatReport, maxPayloadBytes = GOR_MAX_PAYLOAD_BYTES): AsyncGenerator<HttpExchange> {
  const pending = new Map<string, Pending>();
  let index = -1;
  for await (const item of readGorPayloads(file, maxPayloadBytes)) {
    index++;
    const where = `${file} payload ${index}`;
    if ('oversized' in item) {
      report.skipped.push({ where, reason: `${item.oversized} bytes, more than the ${maxPayloadBytes}-byte payload limit` });
      continue;
    }
    const payload = item.bytes;
    const nl = payload.indexOf(0x0a);
    const head = HEADER_LINE.exec(payload.subarray(0, nl === -1 ? payload.length : nl).toString('latin1').replace(/\r$/, ''));
    if (nl === -1 || !head) {
      report.skipped.push({ where, reason: 'no "TYPE ID TIMESTAMP LATENCY" header line' });
      continue;
    }
    const [, type, id, ts, latency] = head as unknown as [string, string, string, string, string | undefined];
    const message = payload.subarray(nl + 1);
    try {
      if (type === '1') {
        if (pending.has(id)) report.skipped.push({ where: `${file} payload ${pending.get(id)?.index}`, reason: `request ${id} repeated before its response` });
        pending.set(id, { index, ts: nsToMs(ts), req: parseHttpRequest(message) });
      } else if (type === '2') {
        const p = pending.get(id);
        if (p === undefined) {
          note(report, 'responses without a request');
          continue;
        }
        pending.delete(id);
        const res = parseHttpResponse(message, p.req.method);
        const lat = latency === undefined ? 0 : nsToMs(latency);
        yield toExchange(p, service, res, lat > 0 ? lat : Math.max(0, nsToMs(ts) - p.ts));
      } else note(report, 'replayed responses (type 3) ignored');
    } catch (err) {
      if (!(err instanceof HttpMessageError)) throw err;
      if (type === '2') pending.delete(id);
      report.skipped.push({ where, reason: `${type === '1' ? 'request' : 'response'} ${id}: ${err.message}` });
    }
  }
  for (const p of pending.values()) {
    note(report, 'requests without a recorded response');
    yield toExchange(p, service, null, 0);
  }
}
