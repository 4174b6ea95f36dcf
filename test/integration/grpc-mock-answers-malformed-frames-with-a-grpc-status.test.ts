import { connect, constants } from 'node:http2';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/metrics/metrics.js';
import { startGrpcMock, type GrpcMock } from '../../src/mock/grpc/grpc-mock.js';
import { encodeFrame } from '../../src/protocols/grpc/framing.js';

const silent = pino({ level: 'silent' }, new Writable({ write: (_c, _e, cb) => cb() }));

/** One raw HTTP/2 call: what a broken client sends, and the status it gets back. */
function call(url: string, body: Buffer): Promise<{ status: string | undefined; message: string | undefined }> {
  return new Promise((resolve, reject) => {
    const session = connect(url);
    session.on('error', reject);
    const s = session.request({ [constants.HTTP2_HEADER_METHOD]: 'POST', [constants.HTTP2_HEADER_PATH]: '/a.v1.S/M', 'content-type': 'application/grpc', te: 'trailers' });
    let status: string | undefined;
    let message: string | undefined;
    const take = (h: Record<string, unknown>) => {
      status = (h['grpc-status'] as string | undefined) ?? status;
      message = (h['grpc-message'] as string | undefined) ?? message;
    };
    s.on('response', take);
    s.on('trailers', take);
    s.resume();
    s.on('close', () => {
      session.close();
      resolve({ status, message: message === undefined ? undefined : decodeURIComponent(message) });
    });
    s.end(body);
  });
}

describe('gRPC mock bad input', () => {
  let mock: GrpcMock;
  afterAll(async () => {
    await mock.close();
  });

  it('answers a bad compressed flag with INTERNAL, an oversized message with RESOURCE_EXHAUSTED, and an unknown method with UNIMPLEMENTED', async () => {
    mock = await startGrpcMock({ service: 'a', listen: '127.0.0.1:0', listenFlag: 'test', exchanges: [], maxMessageBytes: 64, unmatchedKeep: 10, log: silent, metrics: createMetrics() });
    const url = `http://127.0.0.1:${mock.address.port}`;
    expect(await call(url, Buffer.from([9, 0, 0, 0, 1, 0]))).toEqual({ status: '13', message: 'doppel mock: invalid gRPC compressed flag 9' });
    expect(await call(url, encodeFrame(Buffer.alloc(65)))).toEqual({ status: '8', message: 'doppel mock: gRPC message of 65 bytes exceeds the 64-byte limit' });
    expect(await call(url, encodeFrame(Buffer.from('ok')))).toEqual({ status: '12', message: 'doppel mock: a has no recording or stub of /a.v1.S/M' });
  });
});
