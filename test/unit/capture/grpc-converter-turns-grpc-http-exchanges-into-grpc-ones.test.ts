import { describe, expect, it } from 'vitest';
import { encodeBody, type GrpcExchange, type HttpExchange } from '../../../src/core/exchange.js';
import { converterFor } from '../../../src/capture/exchange-converters.js';
import { grpcExchangeConverter } from '../../../src/capture/grpc-converter.js';
import { encodeFrame } from '../../../src/protocols/grpc/framing.js';

function call(contentType: string, overrides: Partial<HttpExchange['http']> = {}): HttpExchange {
  const reqBody = encodeFrame(Buffer.from([0x0a, 0x03, 0x6f, 0x2d, 0x31]));
  const resBody = Buffer.concat([encodeFrame(Buffer.from('first')), encodeFrame(Buffer.from([0xff, 0x00]))]);
  return {
    v: 1,
    id: '01JTEST0000000000000000000',
    session: 's-1',
    parent: 'p-1',
    direction: 'outbound',
    service: 'orders',
    protocol: 'http',
    startedAt: '2026-12-04T10:00:00.000Z',
    durationMs: 3.5,
    http: {
      version: '2',
      request: { method: 'POST', url: '/shop.v1.Orders/GetOrder', authority: 'orders:50051', headers: [['content-type', contentType], ['x-user', 'u-1']], ...encodeBody(reqBody), truncated: false },
      response: { status: 200, headers: [['content-type', 'application/grpc'], ['x-served-by', 'a']], trailers: [['grpc-status', '0'], ['x-cost', '7']], ...encodeBody(resBody), truncated: false },
      ...overrides,
    },
    tags: { 'tls.alpn': 'h2' },
  };
}

const convert = (ex: HttpExchange) => (converterFor([grpcExchangeConverter], ex) ?? ((e: HttpExchange) => e))(ex);

describe('the gRPC exchange converter of the HTTP record proxy', () => {
  it('keeps the envelope and splits messages, metadata, status and trailers as the gRPC listener does', () => {
    const ex = convert(call('application/grpc+proto')) as GrpcExchange;
    expect(ex.protocol).toBe('grpc');
    expect({ id: ex.id, session: ex.session, parent: ex.parent, direction: ex.direction, service: ex.service, startedAt: ex.startedAt, tags: ex.tags }).toEqual({
      id: '01JTEST0000000000000000000',
      session: 's-1',
      parent: 'p-1',
      direction: 'outbound',
      service: 'orders',
      startedAt: '2026-12-04T10:00:00.000Z',
      tags: { 'tls.alpn': 'h2' },
    });
    expect(ex.grpc.service).toBe('shop.v1.Orders');
    expect(ex.grpc.method).toBe('GetOrder');
    expect(ex.grpc.request.metadata).toContainEqual(['x-user', 'u-1']);
    expect(ex.grpc.request.messages).toEqual([Buffer.from([0x0a, 0x03, 0x6f, 0x2d, 0x31]).toString('base64')]);
    expect(ex.grpc.response?.messages).toEqual([Buffer.from('first').toString('base64'), Buffer.from([0xff, 0x00]).toString('base64')]);
    expect(ex.grpc.response?.status).toBe(0);
    expect(ex.grpc.response?.trailers).toEqual([['x-cost', '7']]);
    expect(ex.grpc.response?.metadata).toEqual([['content-type', 'application/grpc'], ['x-served-by', 'a']]);
  });

  it('reads a Trailers-Only answer from the head and a departed client as CANCELLED', () => {
    const trailersOnly = call('application/grpc', {
      response: { status: 200, headers: [['content-type', 'application/grpc'], ['grpc-status', '5'], ['grpc-message', 'no%20such%20order']], body: '', bodyEncoding: 'utf8', truncated: false },
    });
    const r = (convert(trailersOnly) as GrpcExchange).grpc.response;
    expect(r?.status).toBe(5);
    expect(r?.message).toBe('no such order');
    expect(r?.metadata).toEqual([['content-type', 'application/grpc']]);
    const gone = convert(call('application/grpc', { response: null, error: { code: 'CLIENT_CLOSED', message: 'client closed the connection' } })) as GrpcExchange;
    expect(gone.grpc.response).toBeNull();
    expect(gone.grpc.error?.code).toBe('CANCELLED');
  });

  it('leaves gRPC-Web, JSON and requests without a content type as HTTP', () => {
    for (const type of ['application/grpc-web', 'application/grpc-web-text+proto', 'application/json', 'application/grpcx']) {
      expect(convert(call(type)).protocol).toBe('http');
    }
    const bare = call('x');
    bare.http.request.headers = [];
    expect(convert(bare).protocol).toBe('http');
  });
});
