/**
 * Postgres live mocks: the primary's statements go through doppel's record
 * relay to the real server, and the candidate's dependency port answers the
 * same statements from the primary's recorded answers. A shadowed POST that
 * inserts a row reaches the real table once, from the primary only.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Value } from '@sinclair/typebox/value';
import type { IncomingMessage } from 'node:http';
import pg from 'pg';
import { startShadowService, type ShadowService } from '../../src/shadow/shadow-service.js';
import { CompareSchema, CutoffsSchema, ShadowSchema, type ShadowConfig, type CompareConfig } from '../../src/config/schema.js';
import { resolveCompare, resolveShadow } from '../../src/config/resolve.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { createLogger } from '../../src/core/logger.js';
import { startPgMock } from '../../src/mock/pg/server.js';
import { startPgRecorder } from '../../src/capture/pg-recorder.js';
import { createPgFeedWriter } from '../../src/shadow/pg-feed-writer.js';
import type { Exchange, PgExchange } from '../../src/core/exchange.js';
import type { ExchangeWriter } from '../../src/store/types.js';
import { requestRaw, startPeer, type Peer } from '../helpers/shadow-peers.js';
import { PG, adminSql, uniqueName } from '../helpers/pg-harness.js';

const timeouts = { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 5_000, upstreamMs: 10_000 };

type PgService = Peer & { end(): Promise<void> };

/**
 * A JSON service on `pg` against its DATABASE_URL (read when the first request
 * comes, once the shadow's ports are known): `answer` runs per request, a
 * thrown error is a 500.
 */
async function startPgService(
  databaseUrl: () => string,
  answer: (pool: pg.Pool, req: IncomingMessage, body: Buffer) => Promise<{ status: number; json: unknown }>,
): Promise<PgService> {
  let pool: pg.Pool | undefined;
  const peer = await startPeer((req, body, res) => {
    void (async () => {
      try {
        if (pool === undefined) {
          pool = new pg.Pool({ connectionString: databaseUrl(), max: 2 });
          // Idle connections are cut when the shadow closes its ports at the end of the test.
          pool.on('error', () => undefined);
        }
        const { status, json } = await answer(pool, req, body);
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(json));
      } catch (err) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err));
      }
    })();
  });
  return { ...peer, end: async () => { await pool?.end(); } };
}

/** A notes service: POST /notes inserts a row (RETURNING) and reads it back. */
function startNotes(table: string, databaseUrl: () => string): Promise<PgService> {
  return startPgService(databaseUrl, async (pool, _req, body) => {
    const { text } = JSON.parse(body.toString()) as { text: string };
    const inserted = await pool.query<{ id: number; text: string }>(`INSERT INTO ${table} (text) VALUES ($1) RETURNING id, text`, [text]);
    const id = inserted.rows[0]?.id;
    const read = await pool.query<{ id: number; text: string; n: string }>(`SELECT id, text, (SELECT count(*) FROM ${table}) AS n FROM ${table} WHERE id = $1`, [id]);
    return { status: 201, json: { inserted: inserted.rows[0], read: read.rows[0] } };
  });
}

/** The sqlcommenter comment an OpenTelemetry-instrumented service appends: the inbound request's traceparent. */
function traced(sql: string, traceparent: string | undefined): string {
  return traceparent === undefined ? sql : `${sql} /*traceparent='${encodeURIComponent(traceparent)}'*/`;
}

/**
 * An orders service that reads an order and its items, propagating the inbound
 * traceparent into its SQL. `itemQueries` > 1 is the N+1 regression: the items
 * are read one query at a time.
 */
function startOrders(table: string, databaseUrl: () => string, itemQueries: number): Promise<PgService> {
  return startPgService(databaseUrl, async (pool, req) => {
    const tp = typeof req.headers.traceparent === 'string' ? req.headers.traceparent : undefined;
    const order = await pool.query<{ id: number; n: string }>(traced(`SELECT id, (SELECT count(*) FROM ${table}) AS n FROM ${table} WHERE id = $1`, tp), [1]);
    const items: unknown[] = [];
    for (let i = 0; i < itemQueries; i++) {
      const r = await pool.query<{ id: number }>(traced(`SELECT id FROM ${table} WHERE id >= $1 ORDER BY id`, tp), [1]);
      if (i === 0) items.push(...r.rows);
    }
    return { status: 200, json: { order: order.rows[0], items } };
  });
}

/** Real statement exchanges: `run` talks to the real server through doppel's record relay, which decodes them. */
async function recordThroughRelay(run: (client: pg.Client) => Promise<void>): Promise<PgExchange[]> {
  const fed: PgExchange[] = [];
  const collect: ExchangeWriter = {
    append: (ex: Exchange) => {
      if (ex.protocol === 'pg' && ex.pg.request.kind !== 'startup') fed.push(ex);
      return Promise.resolve();
    },
    flush: () => Promise.resolve(),
    close: () => Promise.resolve(),
    bytesWritten: 0,
  };
  const log = createLogger({ level: 'silent' });
  const relay = await startPgRecorder({ service: 'db', listen: { host: '127.0.0.1', port: 0 }, target: { host: PG.host, port: PG.port }, writer: collect, log, metrics: createMetrics() });
  try {
    const c = new pg.Client({ ...PG, port: relay.address.port });
    await c.connect();
    try {
      await run(c);
    } finally {
      await c.end();
    }
  } finally {
    await relay.close();
  }
  return fed;
}

function shadowOptions(cfg: Partial<ShadowConfig>, metrics = createMetrics()) {
  return {
    shadow: resolveShadow(Value.Default(ShadowSchema, cfg) as ShadowConfig),
    compare: resolveCompare(Value.Default(CompareSchema, {}) as CompareConfig),
    gates: { body_match_rate: '>= 0.99' },
    cutoffs: Value.Default(CutoffsSchema, {}) as never,
    log: createLogger({ level: 'silent' }),
    metrics,
    timeouts,
  };
}

describe('shadow with Postgres live mocks', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  /**
   * A primary and a candidate service, each reading its DATABASE_URL from the shadow's
   * ports (the primary's relay to the real server, the candidate's live mock), and the
   * shadow between them; everything is closed after the test.
   */
  async function startPgShadow(start: (databaseUrl: () => string, side: 'primary' | 'candidate') => Promise<PgService>, extra: Partial<ShadowConfig> = {}) {
    const ref: { shadow?: ShadowService } = {};
    const urlOf = (addr: string | undefined) => `postgres://${PG.user}@${addr ?? ''}/${PG.database}`;
    const primary = await start(() => urlOf(ref.shadow?.deps.get('db')), 'primary');
    const candidate = await start(() => urlOf(ref.shadow?.candidateDeps.get('db')), 'candidate');
    cleanup.push(() => primary.close(), () => candidate.close(), () => primary.end(), () => candidate.end());
    const metrics = createMetrics();
    const shadow = await startShadowService(
      shadowOptions(
        {
          listen: '127.0.0.1:0',
          primary: primary.url,
          candidate: candidate.url,
          pg_deps: [{ name: 'db', listen: '127.0.0.1:0', target: `${PG.host}:${PG.port}` }],
          candidate_pg_deps: [{ name: 'db', listen: '127.0.0.1:0' }],
          ...extra,
        },
        metrics,
      ),
    );
    ref.shadow = shadow;
    cleanup.push(() => shadow.close());
    return { shadow, primary, candidate, metrics };
  }

  it('answers the candidate’s INSERT and SELECT from the primary’s; the real table gets one row per request', async () => {
    const table = uniqueName('shadow_notes');
    await adminSql(`CREATE TABLE ${table} (id serial PRIMARY KEY, text text NOT NULL)`);
    cleanup.push(() => adminSql(`DROP TABLE IF EXISTS ${table}`));
    const { shadow: s, candidate, metrics } = await startPgShadow((url) => startNotes(table, url));
    expect(s.methods).toContain('POST');

    const notes = 4;
    const answers: unknown[] = [];
    for (let i = 1; i <= notes; i++) {
      const res = await requestRaw(s.url, '/notes', { method: 'POST', body: JSON.stringify({ text: `note ${i}` }), headers: { 'content-type': 'application/json' } });
      expect(res.status, res.body).toBe(201);
      answers.push(JSON.parse(res.body));
    }
    await s.tee.drain(10_000);

    // The real table: one row per client request, all written by the primary.
    const check = new pg.Client(PG);
    await check.connect();
    const rows = (await check.query<{ text: string }>(`SELECT text FROM ${table} ORDER BY id`)).rows;
    await check.end();
    expect(rows.map((r) => r.text)).toEqual(Array.from({ length: notes }, (_, i) => `note ${i + 1}`));
    expect(answers[notes - 1]).toEqual({ inserted: { id: notes, text: `note ${notes}` }, read: { id: notes, text: `note ${notes}`, n: String(notes) } });

    // The candidate got the primary's answers (ids and counts included), so every copy matches.
    expect(candidate.seen).toHaveLength(notes);
    const view = s.run.view() as { total: { counts: { requests: number; bodyMatch: number } } };
    expect(view.total.counts).toMatchObject({ requests: notes, bodyMatch: notes });
    const text = await metrics.registry.metrics();
    expect(text).toContain(`doppel_mock_requests_total{service="db",protocol="pg",result="matched"} ${notes * 2}`);
    expect(text).not.toMatch(/doppel_mock_requests_total\{service="db",protocol="pg",result="unmatched"\} [1-9]/);
  });

  it('forgets fed exchanges past the window or the count, and counts the unused ones', async () => {
    const fed = await recordThroughRelay(async (c) => {
      for (const n of [1, 2, 3]) await c.query('SELECT $1::int AS n', [n]);
    });
    expect(fed).toHaveLength(3);
    const metrics = createMetrics();
    const log = createLogger({ level: 'silent' });

    let clock = 1_000_000;
    let unusedDropped = 0;
    const mock = await startPgMock({
      service: 'db',
      listen: { host: '127.0.0.1', port: 0 },
      log,
      metrics,
      live: { windowMs: 30_000, maxExchanges: 2, now: () => clock, onUnusedDropped: () => unusedDropped++ },
    });
    cleanup.push(() => mock.close());
    const writer = createPgFeedWriter(mock);
    for (const ex of fed) await writer.append(ex);
    // The count bound: the oldest (n = 1) is gone, never used.
    expect(mock.stats().recordings).toBe(2);
    expect(unusedDropped).toBe(1);

    const client = new pg.Client({ ...PG, port: mock.address.port });
    await client.connect();
    cleanup.push(() => client.end());
    expect((await client.query('SELECT $1::int AS n', [2])).rows).toEqual([{ n: 2 }]);
    await expect(client.query('SELECT $1::int AS n', [1])).rejects.toThrow(/no recording/i);

    // The window: past 30 s both remaining exchanges are forgotten; only the unused one counts as a drop.
    clock += 30_001;
    mock.addExchange(fed[0] as PgExchange);
    expect(mock.stats().recordings).toBe(1);
    expect(unusedDropped).toBe(2);
    expect((await client.query('SELECT $1::int AS n', [1])).rows).toEqual([{ n: 1 }]);
    await expect(client.query('SELECT $1::int AS n', [3])).rejects.toThrow(/no recording/i);
  });

  it('with sqlcommenter traceparents, reports the candidate’s extra statements per request (N+1)', async () => {
    const table = uniqueName('shadow_orders');
    await adminSql(`CREATE TABLE ${table} (id serial PRIMARY KEY); INSERT INTO ${table} DEFAULT VALUES; INSERT INTO ${table} DEFAULT VALUES`);
    cleanup.push(() => adminSql(`DROP TABLE IF EXISTS ${table}`));
    // The primary reads each order's items once, the candidate three times (an N+1).
    const { shadow: s } = await startPgShadow((url, side) => startOrders(table, url, side === 'primary' ? 1 : 3), { inject_traceparent: true });

    const requests = 3;
    for (let i = 0; i < requests; i++) {
      const res = await requestRaw(s.url, '/orders/1');
      expect(res.status, res.body).toBe(200);
    }
    await s.tee.drain(10_000);

    // Same answers (the extra reads are served the primary's recording again), but two more SELECTs per request.
    const view = s.run.view() as { total: { counts: { requests: number; bodyMatch: number } }; outbound: Array<{ service: string; key: string; requests: number; extraCalls: number; message: string }> };
    expect(view.total.counts).toMatchObject({ requests, bodyMatch: requests });
    expect(view.outbound).toHaveLength(1);
    expect(view.outbound[0]).toMatchObject({ service: 'db', requests, extraCalls: 2 * requests });
    expect(view.outbound[0]?.key).toMatch(/^select id from .* where id >= \$1 order by id$/i);
    expect(view.outbound[0]?.message).toContain('candidate issued 2 more db');
    expect(view.outbound[0]?.message).toContain('per request on GET /orders/:id');
  });

  it('answers a candidate statement from the primary’s statement of the same trace, not the first recorded', async () => {
    const seq = uniqueName('shadow_seq');
    await adminSql(`CREATE SEQUENCE ${seq}`);
    cleanup.push(() => adminSql(`DROP SEQUENCE IF EXISTS ${seq}`));
    // Two requests of the primary run the same statement; the server answers 1, then 2.
    const traceA = `00-${'a'.repeat(32)}-${'1'.repeat(16)}-01`;
    const traceB = `00-${'b'.repeat(32)}-${'2'.repeat(16)}-01`;
    const fed = await recordThroughRelay(async (c) => {
      expect((await c.query(traced(`SELECT nextval('${seq}') AS v`, traceA))).rows).toEqual([{ v: '1' }]);
      expect((await c.query(traced(`SELECT nextval('${seq}') AS v`, traceB))).rows).toEqual([{ v: '2' }]);
    });
    expect(fed).toHaveLength(2);
    const metrics = createMetrics();
    const log = createLogger({ level: 'silent' });

    const seen: Array<{ side: string; traceId: string; isMatched: boolean }> = [];
    const mock = await startPgMock({
      service: 'db',
      listen: { host: '127.0.0.1', port: 0 },
      log,
      metrics,
      live: { windowMs: 30_000, maxExchanges: 100, onTracedStatement: (st) => seen.push({ side: st.side, traceId: st.traceId, isMatched: st.isMatched }) },
    });
    cleanup.push(() => mock.close());
    for (const ex of fed) mock.addExchange(ex);
    const client = new pg.Client({ ...PG, port: mock.address.port });
    await client.connect();
    cleanup.push(() => client.end());
    // The candidate's copy of request B arrives first, with B's span id: it gets B's answer.
    const spanB2 = `00-${'b'.repeat(32)}-${'3'.repeat(16)}-01`;
    expect((await client.query(traced(`SELECT nextval('${seq}') AS v`, spanB2))).rows).toEqual([{ v: '2' }]);
    // Without a trace, content matching takes the first unused recording in recorded order.
    expect((await client.query(`SELECT nextval('${seq}') AS v`)).rows).toEqual([{ v: '1' }]);
    expect(seen).toEqual([
      { side: 'primary', traceId: 'a'.repeat(32), isMatched: true },
      { side: 'primary', traceId: 'b'.repeat(32), isMatched: true },
      { side: 'candidate', traceId: 'b'.repeat(32), isMatched: true },
    ]);
  });

  it('refuses a candidate Postgres port with no primary dependency of that name', async () => {
    await expect(
      startShadowService(
        shadowOptions({
          listen: '127.0.0.1:0',
          primary: 'http://127.0.0.1:1',
          candidate: 'http://127.0.0.1:2',
          pg_deps: [{ name: 'db', listen: '127.0.0.1:0' }],
          candidate_pg_deps: [{ name: 'other', listen: '127.0.0.1:0' }],
        }),
      ),
    ).rejects.toMatchObject({
      code: 'DOPPEL_CONFIG_INVALID',
      details: [expect.stringContaining('other has no primary Postgres dependency'), expect.stringContaining('db needs its real server')],
    });
  });
});
