/**
 * The shadow listener over HTTP/2: a client's h2c streams reach an h2c-only
 * primary unchanged, and each copy reaches an h2c-only candidate over HTTP/2
 * (the version the primary's request arrived in), where it is judged. With
 * the candidate holding every copy, the primary's answers still complete:
 * the shadow promise holds per stream.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Value } from '@sinclair/typebox/value';
import { connect as h2connect, createServer as createH2Server, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { startShadowService, type ShadowService } from '../../src/shadow/shadow-service.js';
import { CompareSchema, CutoffsSchema, ShadowSchema, type CompareConfig, type ShadowConfig } from '../../src/config/schema.js';
import { resolveCompare, resolveShadow } from '../../src/config/resolve.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { createLogger } from '../../src/core/logger.js';
import { until } from '../helpers/until.js';

const timeouts = { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 5_000, upstreamMs: 10_000 };

/** An h2c-only peer answering from the path; `hold` keeps every answer back until released. */
async function startH2Peer(hold: boolean): Promise<{ server: Http2Server; url: string; seen: string[]; release: () => void }> {
  const seen: string[] = [];
  const held: Array<() => void> = [];
  let releasing = false;
  const server = createH2Server();
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    seen.push(String(headers[':path']));
    stream.resume();
    const answer = () => {
      if (stream.destroyed) return;
      stream.respond({ ':status': 200, 'content-type': 'application/json' });
      stream.end(JSON.stringify({ path: headers[':path'] }));
    };
    if (hold && !releasing) held.push(answer);
    else answer();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const release = () => {
    releasing = true;
    for (const a of held.splice(0)) a();
  };
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, release };
}

describe('shadow listener over HTTP/2', () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('primary answers over h2c complete while an h2c candidate holds every copy; the copies go over HTTP/2 and are judged', async () => {
    const primary = await startH2Peer(false);
    const candidate = await startH2Peer(true);
    cleanup.push(() => new Promise((r) => primary.server.close(r)));
    cleanup.push(async () => {
      candidate.release();
      await new Promise((r) => candidate.server.close(r));
    });
    const shadow: ShadowService = await startShadowService({
      shadow: resolveShadow(
        Value.Default(ShadowSchema, { listen: '127.0.0.1:0', primary: primary.url, candidate: candidate.url, timeout: '30s', drain_timeout: '200ms', max_in_flight: 64 }) as ShadowConfig,
      ),
      compare: resolveCompare(Value.Default(CompareSchema, {}) as CompareConfig),
      gates: {},
      cutoffs: Value.Default(CutoffsSchema, {}) as never,
      log: createLogger({ level: 'silent' }),
      metrics: createMetrics(),
      timeouts,
    });
    cleanup.push(() => shadow.close());
    const session = h2connect(shadow.url);
    cleanup.push(async () => session.close());
    const paths = Array.from({ length: 20 }, (_, i) => `/orders/${i}`);
    const bodies = await Promise.all(
      paths.map(
        (path) =>
          new Promise<string>((resolve, reject) => {
            const req = session.request({ ':path': path });
            let body = '';
            req.setEncoding('utf8');
            req.on('data', (c: string) => (body += c));
            req.on('end', () => resolve(body));
            req.on('error', reject);
          }),
      ),
    );
    expect(bodies).toEqual(paths.map((path) => JSON.stringify({ path })));
    // every copy reached the candidate (an h2c-only server: they came over HTTP/2) and none is answered yet
    await until('every copy at the candidate', () => candidate.seen.length === paths.length);
    expect(shadow.run.view()).toMatchObject({ judged: 0 });
    candidate.release();
    await until('every copy judged', () => (shadow.run.view() as { judged: number }).judged === paths.length);
    expect(shadow.run.view()).toMatchObject({ judged: paths.length });
  });
});
