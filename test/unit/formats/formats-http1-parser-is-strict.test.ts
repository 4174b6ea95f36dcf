import { describe, expect, it } from 'vitest';
import { HttpMessageError, parseHttpRequest, parseHttpResponse } from '../../../src/formats/http1-message.js';
import { jsonErrorOffset, lineOf } from '../../../src/formats/import-report.js';

const b = (s: string) => Buffer.from(s, 'latin1');

describe('raw HTTP/1.1 message parser', () => {
  it('reads a request with Content-Length, keeping header order, case and duplicates', () => {
    const r = parseHttpRequest(b('POST /a?x=1 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 3\r\n\r\nabc'));
    expect(r).toEqual({ method: 'POST', url: '/a?x=1', headers: [['Host', 'h'], ['X-A', '1'], ['x-a', '2'], ['Content-Length', '3']], body: b('abc') });
  });

  it('reduces an absolute-form target to path and query', () => {
    expect(parseHttpRequest(b('GET http://h:8/p?q HTTP/1.1\r\nHost: h\r\n\r\n')).url).toBe('/p?q');
  });

  it('decodes a chunked response with trailers, and reads a close-delimited one to the end', () => {
    const r = parseHttpResponse(b('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 9\r\n\r\n'));
    expect(r.body.toString()).toBe('abcde');
    expect(r.trailers).toEqual([['X-Sum', '9']]);
    expect(parseHttpResponse(b('HTTP/1.0 200 OK\r\n\r\nuntil close')).body.toString()).toBe('until close');
    expect(parseHttpResponse(b('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n'), 'HEAD').body.length).toBe(0);
  });

  it.each([
    ['no blank line', 'GET / HTTP/1.1\r\nHost: h\r\n'],
    ['bad request line', 'GET /\r\n\r\n'],
    ['HTTP/2 version', 'GET / HTTP/2.0\r\n\r\n'],
    ['obs-fold', 'GET / HTTP/1.1\r\nA: 1\r\n  more\r\n\r\n'],
    ['header without colon', 'GET / HTTP/1.1\r\nbroken\r\n\r\n'],
    ['short body', 'POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc'],
    ['extra bytes', 'POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nabc'],
    ['conflicting lengths', 'POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\na'],
    ['TE and CL', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n0\r\n\r\n'],
    ['bad chunk size', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'],
    ['cut-off chunk', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab'],
    ['unframed request bytes', 'GET / HTTP/1.1\r\n\r\nstray'],
  ])('refuses a request with %s', (_what, raw) => {
    expect(() => parseHttpRequest(b(raw))).toThrow(HttpMessageError);
  });

  it('refuses a bad status line and content on a 204', () => {
    expect(() => parseHttpResponse(b('HTTP/1.1 2000 OK\r\n\r\n'))).toThrow(HttpMessageError);
    expect(() => parseHttpResponse(b('HTTP/1.1 204 No Content\r\n\r\nx'))).toThrow(HttpMessageError);
  });
});

describe('JSON syntax error position', () => {
  it.each([
    ['{"a": }', 6],
    ['[1, 2,]', 6],
    ['{"a": 1} x', 9],
    ['{"a": tru}', 9],
    ['{"a": "b', 8],
    ['[1, 2]', 6],
  ])('%s fails at %i', (text, at) => {
    expect(jsonErrorOffset(text)).toBe(at);
  });

  it('counts lines from 1', () => {
    expect(lineOf('a\nb\nc', 4)).toBe(3);
  });
});
