import { afterEach, describe, expect, it } from 'vitest';
import { createCandidateClient } from '../../src/shadow/candidate-client.js';
import { createShadowTee } from '../../src/shadow/shadow-tee.js';
import { createShadowJudge } from '../../src/shadow/shadow-judge.js';
import { createComparator } from '../../src/compare/comparator.js';
import { createGateEvaluator, createWindowedGateEvaluator } from '../../src/gates/gate-evaluator.js';
import { createRunMetrics } from '../../src/gates/run-metrics.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { createLogger } from '../../src/core/logger.js';
import { CompareSchema, CutoffsSchema } from '../../src/config/schema.js';
import { Value } from '@sinclair/typebox/value';
import type { ShadowDropReason, TeeExchange } from '../../src/shadow/types.js';
import { startHeldPeer, type HeldPeer } from '../helpers/shadow-peers.js';

const compareCfg = Value.Default(CompareSchema, {}) as never;
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
    const metrics = createMetrics();
    const log = createLogger({ level: 'silent' });
    const drops = new Map<ShadowDropReason, number>();
    const drop = (r: ShadowDropReason) => {
      drops.set(r, (drops.get(r) ?? 0) + 1);
      metrics.shadowDropped.inc({ reason: r });
    };
    const judge = createShadowJudge({
      comparator: createComparator(compareCfg),
      pool: undefined,
      inlineMaxBytes: 1 << 20,
      noise: undefined,
      windowed: createWindowedGateEvaluator({ gates: {}, cutoffs, hasLatencyBaseline: true, windowMs: 60_000 }),
      total: createGateEvaluator({ gates: {}, cutoffs, hasLatencyBaseline: true }),
      metrics: createRunMetrics(metrics, 'run-t', 'shadow'),
      drop,
      maxSamples: 10,
      log,
    });
    const client = createCandidateClient({ url: candidate.url, timeoutMs: 60_000, maxBodyBytes: 1 << 20, connections: 4 });
    const queueItems = 20;
    const maxInFlight = 4;
    const tee = createShadowTee({ candidate: client, judge, queueItems, maxInFlight, drop, log });

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
});
