/**
 * With --secondary, copies of the first requests of each endpoint also go to a
 * second primary instance; the fields where the primary disagrees with itself
 * are learned as noise, so a candidate differing only there counts as noise,
 * and a real regression still counts as a mismatch.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { randomInt } from 'node:crypto';
import { Value } from '@sinclair/typebox/value';
import { startShadowService, type ShadowService } from '../../src/shadow/shadow-service.js';
import { CompareSchema, CutoffsSchema, ShadowSchema, type ShadowConfig, type CompareConfig } from '../../src/config/schema.js';
import { resolveCompare, resolveShadow } from '../../src/config/resolve.js';
import { createMetrics, type Metrics } from '../../src/metrics/metrics.js';
import { createLogger } from '../../src/core/logger.js';
import { requestRaw, startPeer, type Peer } from '../helpers/shadow-peers.js';

const timeouts = { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 5_000, upstreamMs: 10_000 };

/** An order with a per-response nonce: the field a build disagrees with itself on (a UUID would already match by value class). */
const orders = (total: (id: number) => number) => (req: { url?: string | undefined }, _b: Buffer, res: import('node:http').ServerResponse) => {
  const id = Number(req.url?.split('/')[2]);
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ id, total: total(id), nonce: randomInt(1_000_000_000) }));
};

describe('shadow with a secondary', () => {
  const peers: Peer[] = [];
  let shadow: ShadowService | undefined;
  afterEach(async () => {
    await shadow?.close();
    shadow = undefined;
    for (const p of peers.splice(0)) await p.close();
  });

  it('learns the fields the primary disagrees with itself on, and still reports a real regression', async () => {
    const primary = await startPeer(orders(() => 10));
    const secondary = await startPeer(orders(() => 10));
    // the candidate gets order 9's total wrong
    const candidate = await startPeer(orders((id) => (id === 9 ? 11 : 10)));
    peers.push(primary, secondary, candidate);
    const metrics: Metrics = createMetrics();
    shadow = await startShadowService({
      shadow: resolveShadow(Value.Default(ShadowSchema, { listen: '127.0.0.1:0', primary: primary.url, candidate: candidate.url, secondary: secondary.url, drain_timeout: '5s' }) as ShadowConfig),
      compare: resolveCompare(Value.Default(CompareSchema, { learn_noise: 5 }) as CompareConfig),
      gates: {},
      cutoffs: Value.Default(CutoffsSchema, {}) as never,
      runId: 'noise-run',
      log: createLogger({ level: 'silent' }),
      metrics,
      timeouts,
    });
    /** until n copies are answered and none is queued, in flight or being judged */
    const judged = async (n: number) => {
      for (let i = 0; i < 500; i++) {
        const s = shadow!.tee.stats();
        if (s.answered >= n && s.queued === 0 && s.inFlight === 0 && s.judging === 0) return;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`copies not judged: ${JSON.stringify(shadow!.tee.stats())}`);
    };

    // Learning: each copy of these also goes to the secondary, one request at a time.
    for (let i = 1; i <= 6; i++) {
      expect((await requestRaw(shadow.url, `/orders/${i}`)).status).toBe(200);
      await judged(i);
    }
    expect(secondary.seen.length).toBe(5);
    expect(candidate.seen.length).toBe(6);

    expect((await requestRaw(shadow.url, '/orders/9')).status).toBe(200);
    await shadow.close();
    const view = shadow.run.view() as { noise: Array<{ path: string; decision: string }>; diffs: Array<{ url: string; diffs: Array<{ path: string }> }> };
    shadow = undefined;

    expect(view.noise.map((n) => n.path)).toEqual(['$.nonce']);
    const text = await metrics.registry.metrics();
    // the nonce alone differs on orders 1-6: noise; order 9 also differs on total: a mismatch.
    expect(text).toContain('doppel_compare_total{run_id="noise-run",mode="shadow",endpoint="GET /orders/:id",result="noise"} 6');
    expect(text).toContain('doppel_compare_total{run_id="noise-run",mode="shadow",endpoint="GET /orders/:id",result="mismatch"} 1');
    expect(view.diffs).toHaveLength(1);
    expect(view.diffs[0]?.url).toBe('/orders/9');
    expect(view.diffs[0]?.diffs.map((d) => d.path)).toEqual(['$.total']);
  });
});
