import { describe, expect, it } from 'vitest';
import { refusalBytes, refusalForParseError, refusalForTransferEncoding } from '../../../src/capture/request-refusal.js';

describe('refusals of malformed requests', () => {
  it('lets plain chunked through, whatever its case or empty list elements (RFC 9110 §5.6.1)', () => {
    for (const te of ['chunked', 'Chunked', 'CHUNKED', ', chunked', 'chunked,']) expect(refusalForTransferEncoding(te, 1)).toBeUndefined();
  });

  it('answers 400 when chunked is not the final coding (RFC 9112 §6.3)', () => {
    for (const te of ['xchunked', 'gzip', 'chunked, identity', 'chunked;q=1', 'identity']) {
      expect(refusalForTransferEncoding(te, 1)).toMatchObject({ status: 400, reason: 'malformed_framing' });
    }
  });

  it('answers 501 for a coding in front of chunked (RFC 9112 §6.1)', () => {
    for (const te of ['gzip, chunked', 'deflate,chunked', 'identity, chunked']) {
      expect(refusalForTransferEncoding(te, 1)).toMatchObject({ status: 501, reason: 'unsupported_transfer_coding' });
    }
  });

  it('answers 400 to Transfer-Encoding on HTTP/1.0 (RFC 9112 §6.1)', () => {
    expect(refusalForTransferEncoding('chunked', 0)).toMatchObject({ status: 400, reason: 'malformed_framing' });
  });

  it("maps parser errors to Node's own answers and a bounded reason", () => {
    expect(refusalForParseError('HPE_INVALID_CHUNK_SIZE', 'Invalid character in chunk size', true)).toMatchObject({ status: 400, reason: 'malformed_framing' });
    expect(refusalForParseError('HPE_INVALID_METHOD', 'Invalid method', false)).toMatchObject({ status: 400, reason: 'malformed_head' });
    expect(refusalForParseError('HPE_CHUNK_EXTENSIONS_OVERFLOW', '', true)).toMatchObject({ status: 413, reason: 'too_large' });
    expect(refusalForParseError('HPE_HEADER_OVERFLOW', '', false)).toMatchObject({ status: 431, reason: 'too_large' });
    expect(refusalForParseError('ERR_HTTP_REQUEST_TIMEOUT', '', true)).toMatchObject({ status: 408, reason: 'timeout' });
  });

  it('writes a whole response that closes the connection, with a JSON body of the stated length', () => {
    const text = refusalBytes({ status: 501, reason: 'unsupported_transfer_coding', message: 'only chunked' });
    const [head, body] = text.split('\r\n\r\n') as [string, string];
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 501 Not Implemented');
    expect(head).toContain('\r\nConnection: close');
    expect(Number(/Content-Length: (\d+)/.exec(head)?.[1])).toBe(Buffer.byteLength(body));
    expect(JSON.parse(body)).toEqual({ error: 'not_implemented', message: 'only chunked' });
  });
});
