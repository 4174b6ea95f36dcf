/**
 * The HTTP/2 parts of the exchange: pseudo-headers become method/url/authority
 * and never headers, split cookies are joined for an HTTP/1.1 hop (RFC 9113
 * §8.2.3), trailers from either undici client come out as one flat list, the
 * store refuses a version it does not know, and HAR carries the version both ways.
 */
import { describe, expect, it } from 'vitest';
import { flatTrailers, http2RequestHead } from '../../src/core/http2-headers.js';
import { decodeExchangeLine } from '../../src/store/codec.js';
import { exchangeToHarEntry, harToExchanges } from '../../src/formats/har.js';
import type { HttpExchange } from '../../src/core/exchange.js';

const h2Exchange: HttpExchange = {
  v: 1,
  id: '01JD0000000000000000000000',
  session: 's',
  parent: null,
  direction: 'inbound',
  service: 'orders',
  protocol: 'http',
  startedAt: '2026-12-04T08:00:00.000Z',
  durationMs: 1,
  tags: {},
  http: {
    version: '2',
    request: { method: 'GET', url: '/orders/1', authority: 'orders.example:8443', headers: [['accept', 'application/json']], body: '', bodyEncoding: 'utf8', truncated: false },
    response: { status: 200, headers: [['content-type', 'application/json']], trailers: [['x-checksum', '2']], body: '{}', bodyEncoding: 'utf8', truncated: false },
  },
};

describe('HTTP/2 exchange fields', () => {
  it('takes the pseudo-headers out, keeps :authority, and joins cookie crumbs in order', () => {
    const head = http2RequestHead([':method', 'POST', ':path', '/a?b=1', ':scheme', 'https', ':authority', 'api:8443', 'cookie', 'a=1', 'x-id', '7', 'cookie', 'b=2']);
    expect(head).toEqual({ authority: 'api:8443', headers: ['cookie', 'a=1; b=2', 'x-id', '7'] });
  });

  it('reads trailers as undici gives them: a raw Buffer list (HTTP/1.1) or a header object (HTTP/2)', () => {
    expect(flatTrailers([Buffer.from('grpc-status'), Buffer.from('0')])).toEqual(['grpc-status', '0']);
    expect(flatTrailers({ 'grpc-status': '0', 'x-multi': ['a', 'b'] })).toEqual(['grpc-status', '0', 'x-multi', 'a', 'x-multi', 'b']);
    expect(flatTrailers(null)).toEqual([]);
  });

  it('the store reads version "2" and refuses any other version, naming it', () => {
    expect(decodeExchangeLine(JSON.stringify(h2Exchange), 'f.ndjson', 1)).toMatchObject({ ok: true });
    const bad = { ...h2Exchange, http: { ...h2Exchange.http, version: '3' } };
    expect(decodeExchangeLine(JSON.stringify(bad), 'f.ndjson', 2)).toEqual({ ok: false, reason: 'http.version "3" is not "1.1" or "2"' });
  });

  it('HAR export writes HTTP/2 and the authority in the URL; import reads them back', () => {
    const entry = exchangeToHarEntry(h2Exchange) as { request: { httpVersion: string; url: string }; response: { httpVersion: string } };
    expect(entry.request.httpVersion).toBe('HTTP/2');
    expect(entry.response.httpVersion).toBe('HTTP/2');
    expect(entry.request.url).toBe('http://orders.example:8443/orders/1');
    const back = [...harToExchanges([entry], { service: undefined, file: 'x.har' }, () => undefined)];
    expect(back[0]?.http.version).toBe('2');
    expect(back[0]?.http.request.authority).toBe('orders.example:8443');
    const h1 = exchangeToHarEntry({ ...h2Exchange, http: { ...h2Exchange.http, version: '1.1' } }) as { request: { httpVersion: string } };
    expect(h1.request.httpVersion).toBe('HTTP/1.1');
  });
});
