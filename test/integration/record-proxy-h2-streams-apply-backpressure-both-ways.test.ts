/**
 * HTTP/2 flow control passes through the record proxy both ways: while the
 * client reads nothing, the upstream can hand over only a few windows of a
 * large response (the proxy stops reading it, RFC 9113 §5.2), and while the
 * upstream reads nothing, the client can hand over only a few windows of a
 * large upload. Once the reader reads again every byte arrives.
 */
import type { ClientHttp2Session, IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../helpers/until.js';
import { startH2cProxyRig, type H2cProxyRig } from '../helpers/h2c-proxy-rig.js';

const TOTAL = 32 * 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 0x61);
/** far above a few flow-control windows and stream buffers, far below TOTAL */
const HELD_BACK_BELOW = 8 * 1024 * 1024;

/** Writes TOTAL bytes honouring write()'s answer; `written` counts what the stream took so far. */
function writeAll(stream: Writable, progress: { written: number }): void {
  const more = (): void => {
    while (progress.written < TOTAL) {
      progress.written += CHUNK.length;
      if (!stream.write(CHUNK)) {
        stream.once('drain', more);
        return;
      }
    }
    stream.end();
  };
  more();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('record proxy HTTP/2 backpressure', () => {
  let rig: H2cProxyRig;
  let client: ClientHttp2Session;
  const download = { written: 0 };
  let upload: ServerHttp2Stream | undefined;

  beforeAll(async () => {
    rig = await startH2cProxyRig('doppel-h2-backpressure-', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
      stream.on('error', () => undefined);
      if (headers[':path'] === '/down') {
        stream.respond({ ':status': 200 });
        writeAll(stream, download);
      } else {
        // reads nothing until the test lets it
        stream.pause();
        upload = stream;
      }
    });
    client = rig.client;
  });

  afterAll(async () => {
    await rig?.close();
  });

  it('a client that reads nothing holds the upstream back; reading again brings every byte', async () => {
    const stream = client.request({ ':path': '/down', ':method': 'GET' });
    stream.pause();
    await until('the upstream started writing', () => download.written > 0);
    await sleep(1_000);
    expect(download.written).toBeLessThan(HELD_BACK_BELOW);
    let received = 0;
    stream.on('data', (c: Buffer) => (received += c.length));
    await new Promise<void>((resolve, reject) => {
      stream.on('end', resolve);
      stream.on('error', reject);
      stream.resume();
    });
    expect(received).toBe(TOTAL);
  });

  it('an upstream that reads nothing holds the client back; reading again takes every byte', async () => {
    const sent = { written: 0 };
    const stream = client.request({ ':path': '/up', ':method': 'POST' }, { endStream: false });
    stream.on('error', () => undefined);
    writeAll(stream, sent);
    await until('the upstream stream opened', () => upload !== undefined);
    await sleep(1_000);
    expect(sent.written).toBeLessThan(HELD_BACK_BELOW);
    const up = upload as ServerHttp2Stream;
    let taken = 0;
    up.on('data', (c: Buffer) => (taken += c.length));
    const status = new Promise<number>((resolve) => stream.on('response', (h: IncomingHttpHeaders) => resolve(Number(h[':status']))));
    up.on('end', () => {
      up.respond({ ':status': 200 });
      up.end();
    });
    up.resume();
    expect(await status).toBe(200);
    expect(taken).toBe(TOTAL);
  });
});
