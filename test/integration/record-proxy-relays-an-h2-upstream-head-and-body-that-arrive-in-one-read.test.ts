/**
 * An https:// HTTP/2 upstream whose answer to a stream (HEADERS, then DATA)
 * reaches the proxy's session in one read while the session waits for a
 * write of its own: every client stream still gets the upstream's status,
 * fields and whole body, and every exchange is recorded with its head and
 * body and no error.
 *
 * Node emits a client stream's 'response' on the next tick but pushes DATA
 * as it reads it. Frames read from the socket at the top of the event loop
 * get the tick queue run after each callback into JS, which hides that
 * order; but a session with a write in flight stops after a DATA frame
 * (NGHTTP2_ERR_PAUSE) and reads the rest of that buffer when the write
 * completes, from a native immediate, where no tick runs between callbacks:
 * a HEADERS and a DATA frame there reach a 'data' listener before
 * 'response'. A body taken before its head answered the client 200 with no
 * head of its own, and ERR_HTTP2_HEADERS_SENT was recorded.
 *
 * Over TLS every write of the session is in flight until the next immediate
 * (TLSWrap finishes even a synchronous write that way), so a PING the
 * session must acknowledge, ending one TLS record, is enough. Over h2c a
 * write completes at once unless the socket's send buffer is full, which a
 * test cannot arrange reliably: the same framing over h2c never paused and
 * passed without the fix, so only TLS is tested.
 */
import { connect as h2connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpCaptureProxy } from '../../src/capture/http-capture-proxy.js';
import { loadTargetTls } from '../../src/core/tls.js';
import {
  dataFrame,
  FRAME_HEADER_BYTES,
  headersFrame,
  pingFrame,
  startH2FrameUpstream,
  TLS_RECORD_PLAINTEXT_BYTES,
  type H2FrameConnection,
  type H2FrameUpstream,
} from '../helpers/h2-frame-upstream.js';
import { createTestRecorder, metricValue, readExchanges, silentLogger, startTestRecordProxy, tempDir, type RecorderSetup } from '../helpers/http.js';
import { makeCa, makeLeaf, writePem } from '../helpers/tls-fixtures.js';

const ROUNDS = 6;

interface Answer {
  head: IncomingHttpHeaders;
  body: string;
  /** the code of a stream that ended in an error (a reset) */
  error: string | undefined;
}

/** Settles on the end or the error of the stream, so a test sees every stream's outcome. */
function get(session: ClientHttp2Session, path: string): Promise<Answer> {
  const stream = session.request({ ':method': 'GET', ':path': path });
  return new Promise((resolve) => {
    let head: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    const settle = (error: string | undefined) => resolve({ head, body: Buffer.concat(chunks).toString(), error });
    stream.on('response', (h: IncomingHttpHeaders) => (head = h));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => settle(undefined));
    stream.on('error', (err: Error & { code?: string }) => settle(err.code ?? err.message));
  });
}

/** Not 200: Node's implicit head, sent when a body goes out first, must not pass for the upstream's. */
function fieldsOf(streamId: number): Array<[string, string]> {
  return [
    ['content-type', 'text/plain'],
    ['x-upstream-stream', String(streamId)],
  ];
}

describe('record proxy in front of an https:// HTTP/2 upstream whose head and body arrive in one read after a pause', () => {
  const { log } = silentLogger();
  let dir: { dir: string; cleanup: () => Promise<void> };
  let setup: RecorderSetup;
  let upstream: H2FrameUpstream;
  let proxy: HttpCaptureProxy;
  let client: ClientHttp2Session;
  let caPem: string;
  /** the body the upstream sent on each of its stream ids */
  const sent = new Map<string, string>();
  /** requests of each upstream connection not answered yet */
  const waiting = new Map<H2FrameConnection, number[]>();

  /**
   * Two requests, answered in one write of two TLS records: the first stream's head, a DATA
   * frame and a PING filling the first record, so the session has a PING ACK in flight when
   * it reads the second: the first stream's last DATA frame (where it pauses), then the second
   * stream's HEADERS and DATA frames, read later in one go.
   */
  function answerPair(first: number, second: number, connection: H2FrameConnection): void {
    const head = headersFrame(first, 203, fieldsOf(first), false);
    const ping = pingFrame(Buffer.from('doppel!!'));
    const filler = 'a'.repeat(TLS_RECORD_PLAINTEXT_BYTES - head.length - FRAME_HEADER_BYTES - ping.length);
    const firstRecord = Buffer.concat([head, dataFrame(first, Buffer.from(filler), false), ping]);
    const tail = `|end of stream ${first}`;
    const secondBody = `stream ${second}: head and body in one read`;
    sent.set(String(first), filler + tail);
    sent.set(String(second), secondBody);
    connection.send(
      Buffer.concat([
        firstRecord,
        dataFrame(first, Buffer.from(tail), true),
        headersFrame(second, 203, fieldsOf(second), false),
        dataFrame(second, Buffer.from(secondBody), true),
      ]),
    );
  }

  beforeAll(async () => {
    dir = await tempDir('doppel-h2-one-read-');
    setup = await createTestRecorder(`${dir.dir}/traffic`);
    const onRequest = (streamId: number, connection: H2FrameConnection) => {
      const ids = [...(waiting.get(connection) ?? []), streamId];
      if (ids.length < 2) {
        waiting.set(connection, ids);
        return;
      }
      waiting.delete(connection);
      const [first, second] = ids.sort((x, y) => x - y) as [number, number];
      answerPair(first, second, connection);
    };
    const ca = await makeCa('doppel test ca');
    caPem = ca.cert;
    const caFiles = await writePem(dir.dir, 'ca', ca);
    upstream = await startH2FrameUpstream({ tls: await makeLeaf('upstream', ca), onRequest });
    proxy = await startTestRecordProxy(upstream.url, setup, log, { metrics: setup.metrics, targetTls: loadTargetTls({ ca: caFiles.cert }, 'record.upstream_tls') });
    client = h2connect(proxy.url);
  });

  afterAll(async () => {
    client?.close();
    await proxy?.close(100);
    await setup?.recorder.close();
    await upstream?.close();
    await dir?.cleanup();
  });

  it('every client stream gets the upstream status, fields and whole body, and is recorded with them and no error', async () => {
    const answers: Answer[] = [];
    const paths: string[] = [];
    // One pair at a time: the proxy's WINDOW_UPDATEs keep the connection window (65,535 octets,
    // not tracked by the upstream) open for the next pair's 16 KB.
    for (let round = 0; round < ROUNDS; round++) {
      const pair = [`/rounds/${round}/first`, `/rounds/${round}/second`];
      paths.push(...pair);
      answers.push(...(await Promise.all(pair.map((path) => get(client, path)))));
    }
    expect(sent.size).toBe(2 * ROUNDS);
    expect(answers.map((a) => `${String(a.head[':status'])} ${a.error ?? 'ended'}`)).toEqual(Array<string>(2 * ROUNDS).fill('203 ended'));
    for (const a of answers) {
      expect(a.head['content-type']).toBe('text/plain');
      expect(a.body).toBe(sent.get(String(a.head['x-upstream-stream'])));
    }
    expect(new Set(answers.map((a) => a.head['x-upstream-stream'])).size).toBe(2 * ROUNDS);

    await setup.recorder.flush();
    const recorded = await readExchanges(`${dir.dir}/traffic`);
    expect(recorded.map((ex) => ex.http.request.url).sort()).toEqual(paths.sort());
    expect(recorded.map((ex) => ex.http.error?.code ?? 'none')).toEqual(Array<string>(2 * ROUNDS).fill('none'));
    for (const ex of recorded) {
      const res = ex.http.response;
      expect(res?.status).toBe(203);
      expect(res?.headers).toContainEqual(['content-type', 'text/plain']);
      const id = res?.headers.find(([n]) => n === 'x-upstream-stream')?.[1];
      expect(res?.body).toBe(sent.get(String(id)));
    }
    expect(await metricValue(setup.metrics, 'doppel_upstream_failures_total')).toBe(0);
  });

  it('the framing still makes a Node client stream with a data listener see the second DATA before its response', async () => {
    // Guards the test above: were Node to run the tick queue between these callbacks, it would
    // pass with the bug as well, and this fails instead.
    const direct = h2connect(upstream.url, { ca: caPem });
    // the upstream's sockets are destroyed when the suite ends
    direct.on('error', () => undefined);
    try {
      const firstEvent = (path: string) =>
        new Promise<string>((resolve, reject) => {
          const events: string[] = [];
          const stream = direct.request({ ':method': 'GET', ':path': path });
          stream.on('response', () => events.push('response'));
          stream.on('data', () => events.push('data'));
          stream.on('end', () => resolve(events[0] ?? 'none'));
          stream.on('error', reject);
        });
      expect(await Promise.all([firstEvent('/direct/first'), firstEvent('/direct/second')])).toEqual(['response', 'data']);
    } finally {
      direct.close();
    }
  });
});
