import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { runReplay } from '../../src/replay/run-replay.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { systemClock } from '../../src/core/clock.js';
import { parseConfig } from '../../src/config/load.js';
import { recordTraffic, startService, tempDir, type PlannedRequest, type Service } from '../helpers/replay-fixtures.js';

const log = pino({ level: 'silent' });

/** Six sessions, each: create an order, read it twice; recorded interleaved. */
function createThenReadPlan(): PlannedRequest[] {
  const plan: PlannedRequest[] = [];
  for (let step = 0; step < 3; step++) {
    for (let s = 0; s < 6; s++) {
      const session = `flow-${s}`;
      if (step === 0) plan.push({ method: 'POST', url: '/orders', session, body: { item: `item-${s}`, qty: s + 1 } });
      // the recorded id is the baseline's: sessions created 1..6 in order
      else plan.push({ method: 'GET', url: `/orders/${s + 1}`, session });
    }
  }
  return plan;
}

describe('sessions replay in order and carry captured values', () => {
  let traffic: Awaited<ReturnType<typeof tempDir>>;
  let baseline: Service;
  beforeAll(async () => {
    traffic = await tempDir('doppel-replay-');
    baseline = await startService();
    await recordTraffic(baseline, traffic.path, createThenReadPlan());
  });
  afterAll(async () => {
    await baseline.close();
    await traffic.cleanup();
  });

  const run = async (target: string, captures: boolean) => {
    const cfg = parseConfig(
      captures ? 'replay:\n  captures:\n    - { name: orderId, from: "$.id", endpoint: "POST /orders" }\n' : '',
      'test.yaml',
      {},
    );
    return runReplay(
      {
        replay: { ...cfg.replay, traffic: [traffic.path], target, concurrency: 4, time_scale: 1000 },
        compare: cfg.compare,
        gates: { body_match_rate: '>= 1' },
        cutoffs: cfg.cutoffs,
        vars: {},
      },
      { log, metrics: createMetrics(), clock: systemClock },
    );
  };

  it('rewrites the recorded id to the one the candidate assigned, in later requests of the same session', async () => {
    const candidate = await startService({ firstId: 1000 });
    try {
      const res = await run(candidate.url, true);
      expect(res.counts).toMatchObject({ sent: 18, passed: 18, failed: 0 });
      expect(res.exitCode).toBe(0);
      // each session: POST first, then reads of the id the candidate gave that session
      for (let s = 0; s < 6; s++) {
        const mine = candidate.seen.filter((r) => r.session === `flow-${s}`);
        expect(mine.map((r) => r.method)).toEqual(['POST', 'GET', 'GET']);
        const created = JSON.parse(mine[0]!.body) as { item: string };
        expect(created.item).toBe(`item-${s}`);
        const ids = mine.slice(1).map((r) => r.url);
        expect(ids[0]).toBe(ids[1]);
        expect(ids[0]).toMatch(/^\/orders\/10\d\d$/);
      }
      expect(new Set(candidate.seen.filter((r) => r.method === 'GET').map((r) => r.url)).size).toBe(6);
    } finally {
      await candidate.close();
    }
  });

  it('without the capture the reads hit the recorded ids and fail', async () => {
    const candidate = await startService({ firstId: 1000 });
    try {
      const res = await run(candidate.url, false);
      // the creates differ in the id, the reads ask for ids the candidate never assigned
      expect(res.counts.failed).toBe(18);
      expect(res.exitCode).toBe(1);
    } finally {
      await candidate.close();
    }
  });
});
