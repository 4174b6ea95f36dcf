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
import { HttpMessageError, parseHttpRequest, parseHttpResponse, type ParsedRequest } from './http1-message.js';
import type { FormatReport } from './import-report.js';
import { note } from './import-report.js';

export const GOR_SEPARATOR = Buffer.from('\n🐵🙈🙉\n', 'utf8');
// older GoReplay versions write the header line without LATENCY
const HEADER_LINE = /^([123]) ([0-9A-Za-z]+) (\d{1,20})(?: (-?\d{1,20}))?$/;

/** The payloads of a .gor file, one at a time, without reading the file whole. */
export async function* readGorPayloads(file: string): AsyncGenerator<Buffer> {
  let rest: Buffer = Buffer.alloc(0);
  for await (const chunk of createReadStream(file)) {
    rest = rest.length === 0 ? (chunk as Buffer) : Buffer.concat([rest, chunk as Buffer]);
    let at = rest.indexOf(GOR_SEPARATOR);
    while (at !== -1) {
      yield rest.subarray(0, at);
      rest = rest.subarray(at + GOR_SEPARATOR.length);
      at = rest.indexOf(GOR_SEPARATOR);
    }
  }
  if (rest.length > 0) yield rest;
}

interface Pending {
  index: number;
  ts: number;
  req: ParsedRequest;
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
export async function* gorToExchanges(file: string, service: string | undefined, report: FormatReport): AsyncGenerator<HttpExchange> {
  const pending = new Map<string, Pending>();
  let index = -1;
  for await (const payload of readGorPayloads(file)) {
    index++;
    const where = `${file} payload ${index}`;
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
