import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createCandidateClient } from '../../src/shadow/candidate-client.js';
import { createShadowTee } from '../../src/shadow/shadow-tee.js';
import { createJudge } from '../../src/judge/judge.js';
import { createComparator } from '../../src/compare/comparator.js';
import { createGateEvaluator, createWindowedGateEvaluator } from '../../src/gates/gate-evaluator.js';
import { createRunMetrics } from '../../src/gates/run-metrics.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { createLogger } from '../../src/core/logger.js';
import { CompareSchema, CutoffsSchema, type CompareConfig } from '../../src/config/schema.js';
import { resolveCompare } from '../../src/config/resolve.js';
import { Value } from '@sinclair/typebox/value';
import type { ShadowDropReason, TeeExchange } from '../../src/shadow/types.js';
import { startHeldPeer, startPeer, type HeldPeer, type Peer } from '../helpers/shadow-peers.js';
import { until } from '../helpers/until.js';

const compareCfg = resolveCompare(Value.Default(CompareSchema, {}) as CompareConfig);
const cutoffs = Value.Default(CutoffsSchema, {}) as never;

function exchange(i: number): TeeExchange {
  const body = Buffer.from(JSON.stringify({ i }));
  return {
    id: `ex-${i}`,
    startedAt: Date.now(),
    durationMs: 1,
    method: 'GET',
    url: `/items/${i}`,
    requestHeaders: ['Host', 'primary', 'Accept', 'application/json'],
    requestBody: [],
    requestTruncated: false,
    response: { status: 200, headers: ['Content-Type', 'application/json'], trailers: undefined, body: [body], truncated: false },
    error: undefined,
  };
}

/** The judge, drop counter and logger a tee under test reports to; drops are counted in the registry too. */
function judgeParts() {
  const metrics = createMetrics();
  const log = createLogger({ level: 'silent' });
  const drops = new Map<ShadowDropReason, number>();
  const drop = (r: ShadowDropReason) => {
    drops.set(r, (drops.get(r) ?? 0) + 1);
    metrics.shadowDropped.inc({ reason: r });
  };
  const judge = createJudge({
    comparator: createComparator(compareCfg),
    pool: undefined,
    inlineMaxBytes: 1 << 20,
    noise: undefined,
    evaluators: [createWindowedGateEvaluator({ gates: {}, cutoffs, hasLatencyBaseline: true, windowMs: 60_000 }), createGateEvaluator({ gates: {}, cutoffs, hasLatencyBaseline: true })],
    metrics: createRunMetrics(metrics, 'run-t', 'shadow'),
    onSaturated: () => drop('judge_saturated'),
    maxSamples: 10,
    log,
  });
  return { metrics, log, drops, drop, judge };
}

describe('shadow tee under a flood with a held candidate', () => {
  let candidate: HeldPeer | undefined;
  afterEach(async () => {
    candidate?.release();
    await candidate?.close();
  });

  it('never holds more than queue_items queued and max_in_flight sent, and counts every excess copy as dropped', async () => {
    candidate = await startHeldPeer((req, _b, res) => {
      const body = JSON.stringify({ i: Number(req.url?.split('/')[2]) });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
    const { metrics, log, drops, drop, judge } = judgeParts();
    const client = createCandidateClient({ url: candidate.url, timeoutMs: 60_000, maxBodyBytes: 1 << 20, connections: 4 });
    const queueItems = 20;
    const maxInFlight = 4;
    const tee = createShadowTee({ candidate: client, judge, queueItems, maxQueueWaitMs: 60_000, maxInFlight, drop, log });

    let accepted = 0;
    const total = 2000;
    for (let i = 0; i < total; i++) {
      if (tee.offer(exchange(i))) accepted++;
      const s = tee.stats();
      expect(s.queued).toBeLessThanOrEqual(queueItems);
      expect(s.inFlight).toBeLessThanOrEqual(maxInFlight);
      // let the pump and the sockets run between bursts
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 5));
    }
    // wait until the held candidate holds a full in-flight set
    while (candidate.held < maxInFlight) await new Promise((r) => setTimeout(r, 5));
    const held = tee.stats();
    expect(held.maxQueued).toBeLessThanOrEqual(queueItems);
    expect(held.maxInFlight).toBe(maxInFlight);
    expect(candidate.maxHeld).toBeLessThanOrEqual(maxInFlight);
    // held: the in-flight set never frees, so exactly the queue plus the in-flight set got in
    expect(accepted).toBe(queueItems + maxInFlight);
    expect(drops.get('queue_full') ?? 0).toBe(total - accepted);
    expect(drops.get('queue_full') ?? 0).toBeGreaterThan(0);

    candidate.release();
    await tee.drain(30_000);
    const done = tee.stats();
    expect(done.answered).toBe(accepted);
    expect(judge.judged).toBe(accepted);
    expect(candidate.seen.length).toBe(accepted);
    const text = await metrics.registry.metrics();
    expect(text).toContain(`doppel_shadow_dropped_total{reason="queue_full"} ${total - accepted}`);
    expect(text).toMatch(/doppel_compare_total\{run_id="run-t",mode="shadow",endpoint="GET \/items\/:id",result="match"\} \d+/);
    await client.close();
  });

  describe('queue_wait', () => {
    let slow: Peer | undefined;
    afterEach(async () => {
      await slow?.close();
      slow = undefined;
    });

    /**
     * A candidate that answers at once while the tee's clock moves by `advanceMs()`: the tee reads its
     * latencies and queue ages from performance.now(), faked by the tests below, so what it admits
     * and what goes stale is arithmetic, not a race with the machine's load.
     */
    const startAdvancingPeer = async (advanceMs: () => number) =>
      startPeer((req, _b, res) => {
        vi.advanceTimersByTime(advanceMs());
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ i: Number(req.url?.split('/')[2]) }));
      });

    const makeTee = (url: string, o: { maxInFlight: number; maxQueueWaitMs: number }) => {
      const { log, drops, drop, judge } = judgeParts();
      const client = createCandidateClient({ url, timeoutMs: 10_000, maxBodyBytes: 1 << 20, connections: o.maxInFlight });
      const tee = createShadowTee({ candidate: client, judge, queueItems: 1000, maxQueueWaitMs: o.maxQueueWaitMs, maxInFlight: o.maxInFlight, drop, log });
      return { tee, drops, client };
    };

    /** Copies answered one at a time until the tee knows the candidate's latency, with nothing left in flight. */
    const warmUp = async (t: ReturnType<typeof makeTee>, n: number) => {
      for (let i = 0; i < n; i++) {
        t.tee.offer(exchange(i));
        await until(`warm-up copy ${i} answered and judged`, () => {
          const st = t.tee.stats();
          return st.answered === i + 1 && st.inFlight === 0 && st.judging === 0;
        });
      }
    };

    /** Two copies answered first, so the tee knows the candidate's latency; then a burst of 200. */
    const burstAfterWarmup = async (url: string, maxQueueWaitMs: number) => {
      const t = makeTee(url, { maxInFlight: 2, maxQueueWaitMs });
      await warmUp(t, 2);
      for (let i = 2; i < 202; i++) t.tee.offer(exchange(i));
      return t;
    };

    beforeEach(() => {
      vi.useFakeTimers({ toFake: ['performance'] });
    });
    afterEach(() => {
      vi.useRealTimers();
    });

    it('refuses copies that would wait longer than queue_wait for a slot, however many queue_items allow', async () => {
      // 90 ms per copy over 2 slots: a copy waits 45 ms per copy ahead of it that the free slots do not
      // take, so 4 fit into 200 ms of waiting (5 would need 225 ms), plus one per slot still free.
      slow = await startAdvancingPeer(() => 90);
      const bounded = await burstAfterWarmup(slow.url, 200);
      const s = bounded.tee.stats();
      expect(s.maxQueued).toBe(4 + 2);
      expect(bounded.drops.get('queue_full')).toBe(200 - (4 + 2));
      await bounded.tee.drain(5_000);
      await bounded.client.close();

      // The same burst without a time bound fills the queue: the bound above is what held it.
      const unbounded = await burstAfterWarmup(slow.url, 600_000);
      expect(unbounded.tee.stats().maxQueued).toBe(200);
      await unbounded.tee.drain(0);
      await unbounded.client.close();
    });

    it('drops queued copies that have gone stale since the candidate slowed down, instead of sending them late', async () => {
      // 3 ms per copy for the first three (the tee learns a fast candidate and admits a deep queue), then 400 ms.
      slow = await startAdvancingPeer(() => ((slow?.seen.length ?? 0) <= 3 ? 3 : 400));
      const t = makeTee(slow.url, { maxInFlight: 1, maxQueueWaitMs: 50 });
      await warmUp(t, 3);
      let admitted = 0;
      for (let i = 3; i < 43; i++) if (t.tee.offer(exchange(i))) admitted++;
      // A copy waits one 3 ms gap per copy ahead of it (one slot): 16 of them fit into 50 ms, plus the one the free slot takes.
      expect(admitted).toBe(17);
      const refusedAtOffer = t.drops.get('queue_full') ?? 0;
      expect(refusedAtOffer).toBe(40 - admitted);
      await t.tee.drain(5_000);
      // One copy went out and held the slot for 400 ms; by then every other one had waited past
      // 2 x 50 ms (+ slack) and was dropped, where sending them would have taken 16 x 400 ms.
      const sent = slow.seen.length - 3;
      expect(sent).toBe(1);
      expect((t.drops.get('queue_full') ?? 0) - refusedAtOffer).toBe(admitted - sent);
      expect(t.drops.get('shutdown') ?? 0).toBe(0);
      await t.client.close();
    });
  });
});
