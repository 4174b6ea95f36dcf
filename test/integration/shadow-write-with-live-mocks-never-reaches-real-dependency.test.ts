/**
 * Write-safe shadowing: the primary's calls to its dependency are recorded
 * through doppel and served to the candidate as live mocks, so a shadowed
 * POST never reaches the real dependency twice. The candidate's extra
 * downstream call is reported as an outbound difference.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Value } from '@sinclair/typebox/value';
import { request } from 'undici';
import { startShadowService, type ShadowService } from '../../src/shadow/shadow-service.js';
import { CompareSchema, CutoffsSchema, ShadowSchema, type ShadowConfig, type CompareConfig } from '../../src/config/schema.js';
import { resolveCompare, resolveShadow } from '../../src/config/resolve.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { createLogger } from '../../src/core/logger.js';
import { requestRaw, startPeer, type Peer } from '../helpers/shadow-peers.js';

const timeouts = { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 5_000, upstreamMs: 10_000 };

/** An orders service: POST /orders charges the payments API (propagating traceparent) and answers with the charge. */
async function startOrders(payments: () => string, opts: { extraRateCall: boolean }): Promise<Peer> {
  return startPeer((req, body, res) => {
    const traceparent = req.headers.traceparent as string | undefined;
    const headers = { 'content-type': 'application/json', ...(traceparent === undefined ? {} : { traceparent }) };
    void (async () => {
      try {
        if (opts.extraRateCall) await (await request(`${payments()}/rates/eur`, { headers })).body.text();
        const charge = await request(`${payments()}/charges`, { method: 'POST', headers, body });
        const answer = await charge.body.text();
        res.writeHead(charge.statusCode === 201 ? 201 : 502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ order: 'created', charge: JSON.parse(answer) as unknown }));
      } catch (err) {
        res.writeHead(500);
        res.end(String(err));
      }
    })();
  });
}

describe('shadowing writes with live mocks', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('serves the primary’s recorded calls to the candidate; the real dependency sees each write once', async () => {
    let charges = 0;
    const realPayments = await startPeer((req, body, res) => {
      if (req.url?.startsWith('/rates') === true) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"rate":1.1}');
        return;
      }
      charges++;
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: `ch_${charges}`, amount: (JSON.parse(body.toString()) as { amount: number }).amount }));
    });
    const ref: { shadow?: ShadowService } = {};
    const primary = await startOrders(() => `http://${ref.shadow?.deps.get('payments') ?? ''}`, { extraRateCall: false });
    const candidate = await startOrders(() => `http://${ref.shadow?.candidateDeps.get('payments') ?? ''}`, { extraRateCall: true });
    cleanup.push(() => realPayments.close(), () => primary.close(), () => candidate.close());
    const metrics = createMetrics();
    const cfg = resolveShadow(Value.Default(ShadowSchema, {
      listen: '127.0.0.1:0',
      primary: primary.url,
      candidate: candidate.url,
      inject_traceparent: true,
      drain_timeout: '10s',
      http_deps: [{ name: 'payments', listen: '127.0.0.1:0', target: realPayments.url }],
      candidate_http_deps: [{ name: 'payments', listen: '127.0.0.1:0' }],
    }) as ShadowConfig);
    const s = await startShadowService({
      shadow: cfg,
      compare: resolveCompare(Value.Default(CompareSchema, {}) as CompareConfig),
      gates: { body_match_rate: '>= 0.99' },
      cutoffs: Value.Default(CutoffsSchema, {}) as never,
      log: createLogger({ level: 'silent' }),
      metrics,
      timeouts,
    });
    ref.shadow = s;
    cleanup.push(() => s.close());
    expect(s.methods).toContain('POST');

    const orders = 5;
    for (let i = 1; i <= orders; i++) {
      const res = await requestRaw(s.url, '/orders', { method: 'POST', body: JSON.stringify({ amount: i * 10 }), headers: { 'content-type': 'application/json' } });
      expect(res.status).toBe(201);
      expect(JSON.parse(res.body)).toEqual({ order: 'created', charge: { id: `ch_${i}`, amount: i * 10 } });
    }
    await s.tee.drain(10_000);

    // The real dependency's log: one charge per client request, all from the primary; the candidate's GET /rates never left doppel.
    expect(realPayments.seen.map((r) => `${r.method} ${r.url}`)).toEqual(Array.from({ length: orders }, () => 'POST /charges'));
    expect(candidate.seen).toHaveLength(orders);
    const view = s.run.view() as { total: { counts: { requests: number; bodyMatch: number } }; outbound: Array<{ service: string; key: string; extraCalls: number; message: string }> };
    // the candidate got the primary's recorded charges back, so its answers match
    expect(view.total.counts).toMatchObject({ requests: orders, bodyMatch: orders });
    expect(view.outbound).toEqual([expect.objectContaining({ service: 'payments', key: 'GET /rates/eur', extraCalls: orders })]);
    expect(view.outbound[0]?.message).toContain('candidate issued 1 more payments GET /rates/eur call(s) per request on POST /orders');
    const text = await metrics.registry.metrics();
    expect(text).toContain(`doppel_mock_requests_total{service="payments",protocol="http",result="matched"} ${orders}`);
    expect(text).toContain(`doppel_mock_requests_total{service="payments",protocol="http",result="unmatched"} ${orders}`);
  });

  it('refuses to shadow writes without live mocks', async () => {
    const cfg = resolveShadow(Value.Default(ShadowSchema, { listen: '127.0.0.1:0', primary: 'http://127.0.0.1:1', candidate: 'http://127.0.0.1:2', methods: ['GET', 'POST'] }) as ShadowConfig);
    await expect(
      startShadowService({
        shadow: cfg,
        compare: resolveCompare(Value.Default(CompareSchema, {}) as CompareConfig),
        gates: {},
        cutoffs: Value.Default(CutoffsSchema, {}) as never,
        log: createLogger({ level: 'silent' }),
        metrics: createMetrics(),
        timeouts,
      }),
    ).rejects.toMatchObject({ code: 'DOPPEL_CONFIG_INVALID', details: [expect.stringContaining('shadow writes only with live mocks')] });
  });
});
