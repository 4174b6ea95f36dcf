import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { encodeFrame, frameMessage, GrpcFrameDecoder, GrpcFramingError } from '../../src/protocols/grpc/framing.js';
import { grpcExchangeFrom } from '../../src/protocols/grpc/grpc-exchange.js';
import { decodeGrpcMessage, decodeStatusDetails, encodeGrpcMessage, encodeStatusDetails } from '../../src/protocols/grpc/status.js';
import { decodeExchangeLine } from '../../src/store/codec.js';

const envelope = { id: '01JTEST0000000000000000000', session: 's', parent: null, direction: 'inbound' as const, service: 'orders', startedAt: new Date(0), durationMs: 1.23456 };

describe('gRPC framing', () => {
  it('yields a message only once its last byte arrives, however the DATA chunks split it', () => {
    const a = encodeFrame(Buffer.from('hello'));
    const b = encodeFrame(Buffer.from('world!'));
    const all = Buffer.concat([a, b]);
    const d = new GrpcFrameDecoder();
    const got: string[] = [];
    for (let i = 0; i < all.length; i++) got.push(...d.push(all.subarray(i, i + 1)).map((f) => f.data.toString()));
    expect(got).toEqual(['hello', 'world!']);
    expect(d.pendingBytes).toBe(0);
  });

  it('refuses a bad compressed flag and a message over the limit', () => {
    expect(() => new GrpcFrameDecoder().push(Buffer.from([7, 0, 0, 0, 0]))).toThrow(GrpcFramingError);
    expect(() => new GrpcFrameDecoder(10).push(Buffer.from([0, 0, 0, 0, 11]))).toThrow('exceeds the 10-byte limit');
  });

  it('decompresses a gzip message and refuses a compressed one without grpc-encoding', () => {
    const frame = { isCompressed: true, data: gzipSync(Buffer.from('zipped')) };
    expect(frameMessage(frame, 'gzip').toString()).toBe('zipped');
    expect(() => frameMessage(frame, undefined)).toThrow('without a grpc-encoding');
  });
});

describe('gRPC status', () => {
  it('round-trips google.rpc.Status details and percent-encoded messages', () => {
    const details = { code: 5, message: 'gone', details: [{ typeUrl: 'type.googleapis.com/x.Y', value: Buffer.from([1, 2, 3]).toString('base64') }] };
    expect(decodeStatusDetails(encodeStatusDetails(details))).toEqual(details);
    expect(decodeGrpcMessage(encodeGrpcMessage('100% naïve\nline'))).toBe('100% naïve\nline');
    expect(encodeGrpcMessage('a%b')).toBe('a%25b');
    expect(decodeStatusDetails('!!not-base64-protobuf')).toBeUndefined();
  });
});

describe('grpcExchangeFrom', () => {
  it('reads a Trailers-Only answer: status and message from the headers, not left in the metadata', () => {
    const ex = grpcExchangeFrom({
      path: '/shop.v1.Orders/GetOrder',
      requestHeaders: [[':path', '/shop.v1.Orders/GetOrder'], ['content-type', 'application/grpc'], ['x-tenant', 't1']],
      requestBody: encodeFrame(Buffer.from([10, 1, 49])),
      responseHeaders: [[':status', '200'], ['content-type', 'application/grpc'], ['grpc-status', '5'], ['grpc-message', 'no%20such%20order']],
      responseBody: [],
      trailers: [],
      envelope,
    });
    expect(ex.protocol).toBe('grpc');
    expect(ex.grpc).toMatchObject({ service: 'shop.v1.Orders', method: 'GetOrder' });
    expect(ex.grpc.request).toEqual({ metadata: [['content-type', 'application/grpc'], ['x-tenant', 't1']], messages: ['CgEx'], truncated: false });
    expect(ex.grpc.response).toEqual({ metadata: [['content-type', 'application/grpc']], messages: [], status: 5, message: 'no such order', trailers: [], truncated: false });
    expect(ex.durationMs).toBe(1.235);
  });

  it('maps an HTTP error without grpc-status to its gRPC code and marks a cut-off message truncated', () => {
    const ex = grpcExchangeFrom({
      path: '/a.B/C',
      requestHeaders: [],
      requestBody: encodeFrame(Buffer.from('abcdef')).subarray(0, 8),
      responseHeaders: [[':status', '503']],
      responseBody: [],
      trailers: [],
      envelope,
    });
    expect(ex.grpc.request.truncated).toBe(true);
    expect(ex.grpc.response?.status).toBe(14);
  });

  it('stores and reads back through the NDJSON codec, which refuses a grpc line without its payload', () => {
    const ex = grpcExchangeFrom({ path: '/a.B/C', requestHeaders: [], requestBody: [], responseHeaders: undefined, responseBody: [], trailers: [], envelope });
    const ok = decodeExchangeLine(JSON.stringify(ex), 'f', 1);
    expect(ok).toEqual({ ok: true, exchange: ex });
    const bad = decodeExchangeLine(JSON.stringify({ ...ex, grpc: { service: 'a.B', method: 'C' } }), 'f', 2);
    expect(bad).toEqual({ ok: false, reason: 'grpc exchange without "request.metadata" and "request.messages"' });
  });
});
