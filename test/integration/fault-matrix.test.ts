/**
 * The fault matrix: every peer doppel talks to, each misbehaving in each way
 * a real one can (test/helpers/faulty-peer.ts), against doppel started
 * in-process with short timeouts. Each row names the target, the fault and
 * the reason doppel must count it under; every row also checks that the
 * primary path is unaffected, that doppel lets go of every connection to the
 * faulty peer, that no handle outlives the row, and that memory returns to
 * its level before the row (10 MB of garbage and endless bodies included).
 */
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { Value } from '@sinclair/typebox/value';
import pg from 'pg';
import pino from 'pino';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startHttpCaptureProxy } from '../../src/capture/http-capture-proxy.js';
import { startPgRecorder } from '../../src/capture/pg-recorder.js';
import { CompareSchema, CutoffsSchema, ShadowSchema, type CompareConfig, type ShadowConfig } from '../../src/config/schema.js';
import { resolveCompare, resolveShadow } from '../../src/config/resolve.js';
import { parseConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/core/clock.js';
import { createLogger } from '../../src/core/logger.js';
import { peerFailureReason } from '../../src/core/peer-failure.js';
import { createMetrics, type Metrics } from '../../src/metrics/metrics.js';
import { startHttpMock } from '../../src/mock/http-mock.js';
import { startPgMock } from '../../src/mock/pg/server.js';
import { runReplay } from '../../src/replay/run-replay.js';
import { startShadowService } from '../../src/shadow/shadow-service.js';
import type { ExchangeWriter } from '../../src/store/types.js';
import { httpExchange } from '../helpers/exchanges.js';
import { startFaultyHttpPeer, startFaultyPgPeer, type FaultyPeer, type HttpFault, type PgFault } from '../helpers/faulty-peer.js';
import { heldBytes, resourceCounts, untilResourcesReturn } from '../helpers/held-resources.js';
import { primaryHandler, requestRaw, startPeer, type Peer } from '../helpers/shadow-peers.js';
import { until } from '../helpers/until.js';

/** Short enough that a 1 byte/s drip or a hang ends each row well within a second or two. */
const SHORT_MS = 300;
/** A row that hangs fails here, naming itself, instead of at the project's minute. */
const ROW_TIMEOUT_MS = 20_000;
const silent = () => createLogger({ level: 'silent' });
/** Bytes a row may leave held after it ends (allocator noise, lazily built caches); 10 MB of garbage is well above. */
const HELD_SLACK = 6 * 1024 * 1024;

type HttpTarget = 'shadow candidate' | 'replay target' | 'record upstream' | 'record http dependency' | 'mock http passthrough';
type PgTarget = 'record pg relay' | 'mock pg passthrough';

/** `none`: nothing to count (the peer's answer was a valid one, or the client went away first). */
const HTTP_ROWS: Array<[HttpTarget, HttpFault, string]> = [
  // shadow: doppel_shadow_dropped_total{reason}; `judged` = compared like any answer
  ['shadow candidate', 'refuse', 'candidate_error'],
  ['shadow candidate', 'hang', 'candidate_timeout'],
  ['shadow candidate', 'reset_mid_headers', 'candidate_error'],
  ['shadow candidate', 'reset_mid_body', 'candidate_error'],
  ['shadow candidate', 'drip_body', 'candidate_timeout'],
  ['shadow candidate', 'garbage_10mb', 'candidate_error'],
  ['shadow candidate', 'content_length_short', 'judged'],
  ['shadow candidate', 'content_length_long', 'candidate_error'],
  ['shadow candidate', 'endless_chunked', 'body_too_large'],
  // replay: an `error` result (doppel_replay_requests_total), its code sorted as peer failure reasons
  ['replay target', 'refuse', 'refused'],
  ['replay target', 'hang', 'timeout'],
  ['replay target', 'reset_mid_headers', 'reset'],
  ['replay target', 'reset_mid_body', 'reset'],
  ['replay target', 'drip_body', 'timeout'],
  ['replay target', 'garbage_10mb', 'malformed'],
  ['replay target', 'content_length_short', 'none'],
  ['replay target', 'content_length_long', 'reset'],
  ['replay target', 'endless_chunked', 'timeout'],
  // record proxy, both sides: doppel_upstream_failures_total{service,reason}
  ...(['record upstream', 'record http dependency', 'mock http passthrough'] as const).flatMap((t): Array<[HttpTarget, HttpFault, string]> => [
    [t, 'refuse', 'refused'],
    [t, 'hang', 'timeout'],
    [t, 'reset_mid_headers', 'reset'],
    [t, 'reset_mid_body', 'reset'],
    [t, 'drip_body', 'timeout'],
    [t, 'garbage_10mb', 'malformed'],
    [t, 'content_length_short', 'none'],
    [t, 'content_length_long', 'reset'],
    // streamed to the client as sent; the client giving up is not the upstream's failure
    [t, 'endless_chunked', 'none'],
  ]),
];

const PG_ROWS: Array<[PgTarget, PgFault, string]> = [
  // relay: doppel_upstream_failures_total; a frame over the limit stops recording (doppel_record_dropped_total{reason="too_large"})
  ['record pg relay', 'refuse', 'refused'],
  ['record pg relay', 'hang', 'none'],
  ['record pg relay', 'close_mid_message', 'reset'],
  ['record pg relay', 'message_of_1gb', 'record_dropped:too_large'],
  // mock passthrough: the client gets 08006 and the connection goes on; doppel_upstream_failures_total
  ['mock pg passthrough', 'refuse', 'refused'],
  ['mock pg passthrough', 'hang', 'timeout'],
  ['mock pg passthrough', 'close_mid_message', 'reset'],
  ['mock pg passthrough', 'message_of_1gb', 'too_large'],
];

async function counterValues(metrics: Metrics, name: string): Promise<Array<{ labels: Record<string, string | number>; value: number }>> {
  const m = metrics.registry.getSingleMetric(name);
  if (m === undefined) throw new Error(`no metric ${name}`);
  return (await m.get()).values.filter((v) => v.value > 0) as Array<{ labels: Record<string, string | number>; value: number }>;
}

/** The one reason a counter was bumped under for `service`, or `none`. */
async function upstreamReason(metrics: Metrics, service: string): Promise<string> {
  const vals = (await counterValues(metrics, 'doppel_upstream_failures_total')).filter((v) => v.labels.service === service);
  if (vals.length === 0) return 'none';
  expect(vals, 'one failure, counted once').toHaveLength(1);
  expect(vals[0]?.value).toBe(1);
  return String(vals[0]?.labels.reason);
}

interface ClientOutcome {
  status: number;
  bytes: number;
  isComplete: boolean;
}

/** One GET on a fresh connection; gives up (destroys the socket) after `capBytes` of body or at `giveUpMs`. */
function get(url: string, capBytes = 2 * 1024 * 1024, giveUpMs = 5_000): Promise<ClientOutcome> {
  return new Promise((resolve) => {
    let status = 0;
    let bytes = 0;
    const done = (isComplete: boolean) => {
      clearTimeout(timer);
      req.destroy();
      resolve({ status, bytes, isComplete });
    };
    const timer = setTimeout(() => done(false), giveUpMs);
    const req = httpRequest(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      status = res.statusCode ?? 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (bytes > capBytes) done(false);
      });
      res.on('end', () => done(res.complete));
      res.on('error', () => done(false));
    });
    req.on('error', () => done(false));
    req.end();
  });
}

async function runHttpRow(target: HttpTarget, peer: FaultyPeer, healthy: Peer): Promise<string> {
  switch (target) {
    case 'shadow candidate': {
      const shadow = await startShadowService({
        shadow: resolveShadow(
          Value.Default(ShadowSchema, {
            listen: '127.0.0.1:0',
            primary: healthy.url,
            candidate: peer.url,
            timeout: `${SHORT_MS}ms`,
            drain_timeout: '2s',
          }) as ShadowConfig,
        ),
        compare: resolveCompare(Value.Default(CompareSchema, {}) as CompareConfig),
        gates: {},
        cutoffs: Value.Default(CutoffsSchema, {}) as never,
        log: silent(),
        metrics: createMetrics(),
        timeouts: { headersMs: 5_000, requestMs: 10_000, keepAliveMs: 1_000, upstreamMs: 5_000 },
      });
      try {
        // The primary's answer is exactly what the primary says, whatever the candidate does.
        expect(await requestRaw(shadow.url, '/orders/1')).toEqual(await requestRaw(healthy.url, '/orders/1'));
        await shadow.tee.drain(10_000);
        const drops = Object.entries(shadow.run.drops()).filter(([, n]) => n > 0);
        if (drops.length === 0) {
          expect(shadow.run.view()).toMatchObject({ judged: 1 });
          return 'judged';
        }
        expect(drops).toHaveLength(1);
        expect(drops[0]?.[1]).toBe(1);
        return drops[0]?.[0] as string;
      } finally {
        await shadow.close();
      }
    }
    case 'replay target': {
      const lines: Array<Record<string, unknown>> = [];
      const sink = new Writable({
        write(chunk: Buffer, _enc, cb) {
          for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
          cb();
        },
      });
      const cfg = parseConfig('', 'faults.yaml', {});
      const ex = httpExchange({ url: '/orders/1', status: 200, body: '{"a":1}' });
      const res = await runReplay(
        {
          replay: { ...cfg.replay, target: peer.url, timeout_ms: SHORT_MS, time_scale: 1000 },
          reader: {
            read: async function* () {
              yield ex;
            },
          },
          compare: cfg.compare,
          gates: {},
          cutoffs: cfg.cutoffs,
          vars: {},
        },
        { log: pino({ level: 'debug' }, sink), metrics: createMetrics(), clock: systemClock },
      );
      expect(res.counts.sent).toBe(1);
      if (res.counts.errors === 0) return 'none';
      expect(res.counts.errors).toBe(1);
      const failed = lines.find((l) => l.msg === 'request failed');
      return peerFailureReason(failed?.err);
    }
    case 'mock http passthrough': {
      const metrics = createMetrics();
      const mock = await startHttpMock({
        service: 'faulty',
        listen: '127.0.0.1:0',
        exchanges: [],
        options: {
          latency: 'none',
          matchHeaders: [],
          ignore: [],
          valueClasses: true,
          maxBodyBytes: 1024 * 1024,
          redactedQueryParams: [],
          redactedJsonPaths: [],
          target: peer.url,
          unmatchedKeep: 10,
          upstreamTimeoutMs: SHORT_MS,
        },
        log: silent(),
        metrics,
      });
      try {
        const outcome = await get(`${mock.url}/orders/1`);
        if (outcome.status >= 500) expect([502, 504]).toContain(outcome.status);
        return await upstreamReason(metrics, 'faulty');
      } finally {
        await mock.close();
      }
    }
    case 'record upstream':
    case 'record http dependency': {
      const metrics = createMetrics();
      const timeouts = { headersMs: 5_000, requestMs: 10_000, keepAliveMs: 1_000, upstreamMs: SHORT_MS };
      const common = { listen: '127.0.0.1:0', maxBodyBytes: 1024 * 1024, timeouts, log: silent(), metrics };
      const isInbound = target === 'record upstream';
      const faulty = await startHttpCaptureProxy({ ...common, target: peer.url, service: 'faulty', direction: isInbound ? 'inbound' : 'outbound', rewriteHost: !isInbound });
      // The other side of the same recorder: its traffic must not notice the faulty peer.
      const other = await startHttpCaptureProxy({ ...common, target: healthy.url, service: 'healthy', direction: isInbound ? 'outbound' : 'inbound', rewriteHost: isInbound });
      try {
        const pending = get(`${faulty.url}/orders/1`);
        expect(await requestRaw(other.url, '/orders/2')).toEqual(await requestRaw(healthy.url, '/orders/2'));
        const outcome = await pending;
        // Before any byte of an answer went out, a failure is a clear 502 or 504.
        if (outcome.status >= 500) expect([502, 504]).toContain(outcome.status);
        return await upstreamReason(metrics, 'faulty');
      } finally {
        await faulty.close(200);
        await other.close(200);
      }
    }
    default: {
      const never: never = target;
      return never;
    }
  }
}

/** Startup (user postgres, database test) then one Query; resolves once the server side answers, closes or `giveUpMs` passes. */
function pgRawQuery(port: number, giveUpMs: number): Promise<{ bytes: number; isClosedByPeer: boolean }> {
  return new Promise((resolve) => {
    const params = Buffer.from('user\0postgres\0database\0test\0\0');
    const startup = Buffer.alloc(8);
    startup.writeInt32BE(8 + params.length, 0);
    startup.writeInt32BE(196608, 4);
    const sql = Buffer.from('SELECT 1\0');
    const query = Buffer.alloc(5);
    query[0] = 0x51;
    query.writeInt32BE(4 + sql.length, 1);
    let bytes = 0;
    let isQuerySent = false;
    const sock = connect({ host: '127.0.0.1', port });
    const finish = (isClosedByPeer: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ bytes, isClosedByPeer });
    };
    const timer = setTimeout(() => finish(false), giveUpMs);
    sock.on('connect', () => sock.write(Buffer.concat([startup, params])));
    sock.on('data', (c: Buffer) => {
      bytes += c.length;
      if (!isQuerySent && c.includes(Buffer.from([0x5a, 0, 0, 0, 5]))) {
        isQuerySent = true;
        sock.write(Buffer.concat([query, sql]));
      }
    });
    sock.on('error', () => finish(true));
    sock.on('close', () => finish(true));
  });
}

const nullWriter: ExchangeWriter = {
  append: () => Promise.resolve(),
  flush: () => Promise.resolve(),
  close: () => Promise.resolve(),
  bytesWritten: 0,
};

async function runPgRow(target: PgTarget, peer: FaultyPeer, fault: PgFault): Promise<string> {
  const metrics = createMetrics();
  switch (target) {
    case 'record pg relay': {
      const relay = await startPgRecorder({ service: 'db', listen: { host: '127.0.0.1', port: 0 }, target: { host: peer.host, port: peer.port }, writer: nullWriter, log: silent(), metrics });
      try {
        // The client (a driver with its own query timeout) gives up on a hang; a refused or cut server closes it.
        const r = await pgRawQuery(relay.address.port, SHORT_MS * 2);
        if (fault === 'refuse' || fault === 'close_mid_message') expect(r.isClosedByPeer).toBe(true);
        // The relay is transparent: the 1 GB frame's first bytes reach the client as the server sent them.
        if (fault === 'message_of_1gb') expect(r.bytes).toBeGreaterThan(64 * 1024);
        await until('the connection recorded', async () => (await counterValues(metrics, 'doppel_record_dropped_total')).length > 0 || fault !== 'message_of_1gb');
        const dropped = await counterValues(metrics, 'doppel_record_dropped_total');
        if (dropped.length > 0) {
          expect(dropped).toHaveLength(1);
          return `record_dropped:${String(dropped[0]?.labels.reason)}`;
        }
        await until('the relay saw the server close', () => peer.open === 0);
        await new Promise((r) => setImmediate(r));
        await new Promise((r) => setImmediate(r));
        return await upstreamReason(metrics, 'db');
      } finally {
        await relay.close();
      }
    }
    case 'mock pg passthrough': {
      const mock = await startPgMock({
        service: 'db',
        listen: { host: '127.0.0.1', port: 0 },
        exchanges: [],
        log: silent(),
        metrics,
        target: { host: peer.host, port: peer.port },
        targetConnectTimeoutMs: SHORT_MS,
        targetTimeoutMs: SHORT_MS,
        recordTo: nullWriter,
      });
      const client = new pg.Client({ host: '127.0.0.1', port: mock.address.port, user: 'postgres', database: 'test' });
      client.on('error', () => undefined);
      try {
        await client.connect();
        // The mock answers with 08006 naming the target, and the client's connection goes on.
        await expect(client.query('SELECT 1')).rejects.toMatchObject({ code: '08006' });
        const reason = await upstreamReason(metrics, 'db');
        await expect(client.query('SELECT 2')).rejects.toMatchObject({ code: '08006' });
        return reason;
      } finally {
        await client.end().catch(() => undefined);
        await mock.close();
      }
    }
    default: {
      const never: never = target;
      return never;
    }
  }
}

describe('fault matrix', () => {
  let healthy: Peer;
  const cleanup: Array<() => Promise<void>> = [];
  beforeAll(async () => {
    // One warm-up of each path, so lazily loaded modules and caches are not counted as held by the first row.
    healthy = await startPeer(primaryHandler);
    const p = await startFaultyHttpPeer('content_length_short');
    await runHttpRow('shadow candidate', p, healthy);
    await runHttpRow('replay target', p, healthy);
    await runHttpRow('record upstream', p, healthy);
    await p.close();
    const q = await startFaultyPgPeer('refuse');
    await runPgRow('mock pg passthrough', q, 'refuse');
    await runPgRow('record pg relay', q, 'refuse');
    return () => healthy.close();
  });
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function checked(start: () => Promise<FaultyPeer>, run: (peer: FaultyPeer) => Promise<string>): Promise<string> {
    const bytesBefore = await heldBytes();
    const before = resourceCounts();
    const peer = await start();
    cleanup.push(() => peer.close());
    const reason = await run(peer);
    // doppel let go of every connection it opened to the faulty peer, before the peer closes anything.
    await until(`doppel to close its ${peer.open} connection(s) to the faulty peer`, () => peer.open === 0);
    await peer.close();
    await untilResourcesReturn(before);
    const grown = (await heldBytes()) - bytesBefore;
    expect(grown, `bytes still held after the row: ${grown}`).toBeLessThan(HELD_SLACK);
    return reason;
  }

  it.each(HTTP_ROWS)('%s, %s: counted as %s', async (target, fault, expected) => {
    const reason = await checked(() => startFaultyHttpPeer(fault, { dripMs: 1000 }), (peer) => runHttpRow(target, peer, healthy));
    expect(reason).toBe(expected);
  }, ROW_TIMEOUT_MS);

  it.each(PG_ROWS)('%s, %s: counted as %s', async (target, fault, expected) => {
    const reason = await checked(() => startFaultyPgPeer(fault), (peer) => runPgRow(target, peer, fault));
    expect(reason).toBe(expected);
  }, ROW_TIMEOUT_MS);
});
