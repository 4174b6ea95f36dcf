/**
 * An h2c upstream, the record proxy in front of it recording into a temporary
 * store, and one h2c client session to the proxy: what the HTTP/2 stream
 * tests of the record proxy each set up.
 */
import { connect as h2connect, createServer as createH2Server, type ClientHttp2Session, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { HttpCaptureProxy } from '../../src/capture/http-capture-proxy.js';
import { createTestRecorder, silentLogger, startTestRecordProxy, tempDir, type RecorderSetup } from './http.js';

export interface H2cProxyRig {
  dir: string;
  setup: RecorderSetup;
  upstream: Http2Server;
  proxy: HttpCaptureProxy;
  client: ClientHttp2Session;
  close(): Promise<void>;
}

export async function startH2cProxyRig(prefix: string, onStream: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void): Promise<H2cProxyRig> {
  const { log } = silentLogger();
  const dir = await tempDir(prefix);
  const setup = await createTestRecorder(dir.dir);
  const upstream = createH2Server();
  upstream.on('stream', onStream);
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const proxy = await startTestRecordProxy(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, setup, log, { metrics: setup.metrics });
  const client = h2connect(proxy.url);
  return {
    dir: dir.dir,
    setup,
    upstream,
    proxy,
    client,
    async close() {
      client.close();
      await proxy.close(100);
      await setup.recorder.close();
      upstream.close();
      await dir.cleanup();
    },
  };
}
