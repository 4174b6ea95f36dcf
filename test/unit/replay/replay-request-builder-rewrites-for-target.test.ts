import { describe, expect, it } from 'vitest';
import { buildRequest } from '../../../src/replay/request-builder.js';
import { SessionVars } from '../../../src/replay/runtime-vars.js';
import type { HttpExchange } from '../../../src/core/exchange.js';

function exchange(url: string, headers: Array<[string, string]>, body = ''): HttpExchange {
  return {
    v: 1, id: '01J', session: 's', parent: null, direction: 'inbound', service: 'orders', protocol: 'http',
    startedAt: '2026-01-01T00:00:00.000Z', durationMs: 1, tags: {},
    http: { request: { method: 'post', url, headers, body, bodyEncoding: 'utf8', truncated: false }, response: null },
  };
}

const opts = {
  targetOrigin: 'http://127.0.0.1:9000',
  headers: [['Authorization', 'Bearer {{env.T}}']] as Array<[string, string]>,
  env: { now: () => 0, vars: { T: 'secret' } },
};

describe('request builder', () => {
  it('strips hop-by-hop headers, rewrites host and absolute urls, sets configured headers', () => {
    const ex = exchange('http://prod.example:8080/orders?x=1', [
      ['Host', 'prod.example:8080'],
      ['Connection', 'keep-alive, X-Hop'],
      ['X-Hop', '1'],
      ['Transfer-Encoding', 'chunked'],
      ['Content-Length', '3'],
      ['Authorization', '[redacted:abc]'],
      ['Referer', 'http://prod.example:8080/page'],
      ['X-Keep', 'a'],
      ['X-Keep', 'b'],
    ]);
    const out = buildRequest(ex, undefined, opts);
    expect(out.method).toBe('POST');
    expect(out.path).toBe('/orders?x=1');
    expect(out.headers).toEqual(['Referer', 'http://127.0.0.1:9000/page', 'X-Keep', 'a', 'X-Keep', 'b', 'Authorization', 'Bearer secret']);
  });

  it('substitutes captured values in JSON bodies and keeps binary bodies byte for byte', () => {
    const vars = new SessionVars();
    vars.setSubstitution('42', '1042');
    const out = buildRequest(exchange('/orders/42', [['content-type', 'application/json']], '{"id":42,"n":7}'), vars, opts);
    expect(out.path).toBe('/orders/1042');
    expect(JSON.parse(out.body!.toString())).toEqual({ id: 1042, n: 7 });
    const bin = exchange('/upload', []);
    bin.http.request.body = Buffer.from([0xff, 0x00, 0x2a]).toString('base64');
    bin.http.request.bodyEncoding = 'base64';
    expect([...buildRequest(bin, vars, opts).body!]).toEqual([0xff, 0x00, 0x2a]);
  });
});
