import type { IncomingMessage, ServerResponse } from 'node:http';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/core/clock.js';
import type { HttpExchange } from '../../src/core/exchange.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import type { ReplayRun } from '../../src/replay/replay-run.js';
import { runReplay } from '../../src/replay/run-replay.js';
import type { ExchangeReader } from '../../src/store/types.js';
import { httpExchange } from '../helpers/exchanges.js';
import { startUpstream } from '../helpers/http.js';

const DOCS = 40;
const PLANTED = 7;

/** A JSON document of about 20 kB; the target's copy of document 7 has one field changed. */
function doc(i: number, isCandidate: boolean): string {
  const items = Array.from({ length: 200 }, (_, k) => ({ k, name: `item ${k} of ${i}`, price: k * 1.5, tags: ['a', 'b', 'c'] }));
  return JSON.stringify({ id: i, total: isCandidate && i === PLANTED ? 31 : 30, items });
}

function traffic(): ExchangeReader {
  return {
    async *read() {
      for (let i = 0; i < DOCS; i++) {
        const ex: HttpExchange = httpExchange({ id: `ex-${String(i).padStart(4, '0')}`, session: `s-${i}`, url: `/docs/${i}`, status: 200, body: doc(i, false) });
        ex.http.response!.headers = [['content-type', 'application/json']];
        yield ex;
      }
    },
  };
}

describe('replay judges pairs over replay.judge_inline_bytes in worker threads', () => {
  it('judges 20 kB bodies off the sending loop with the same verdict, counts and diff as inline', async () => {
    const target = await startUpstream((req: IncomingMessage, res: ServerResponse) => {
      req.resume();
      const i = Number(/\/docs\/(\d+)/.exec(req.url ?? '')?.[1]);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(doc(i, true));
    });
    try {
      const run = async (workers: number) => {
        const cfg = parseConfig(`replay:\n  judge_workers: ${workers}\n  judge_inline_bytes: 1kb\n`, 'pool.yaml', {});
        let live: ReplayRun | undefined;
        const res = await runReplay(
          {
            replay: { ...cfg.replay, traffic: ['synthetic'], target: target.url, time_scale: 1e9, concurrency: 8 },
            compare: cfg.compare,
            gates: { body_match_rate: '>= 0.9', field_match_rate: '>= 0.9' },
            cutoffs: cfg.cutoffs,
            vars: {},
            reader: traffic(),
          },
          { log: pino({ level: 'silent' }), metrics: createMetrics(), clock: systemClock, observe: (r) => (live = r) },
        );
        return { res, diffs: live?.recentDiffs ?? [] };
      };
      const pooled = await run(1);
      const inline = await run(0);
      // every pair went to the pool (a pair it could not take would have been compared inline, never dropped)
      expect(pooled.res.judgedOffLoop).toBeGreaterThan(0);
      expect(pooled.res.judgedOffLoop).toBeLessThanOrEqual(DOCS);
      expect(inline.res.judgedOffLoop).toBe(0);
      expect(pooled.res.counts).toMatchObject({ sent: DOCS, passed: DOCS - 1, failed: 1, errors: 0 });
      expect(pooled.res.counts).toEqual(inline.res.counts);
      expect(pooled.res.verdict).toBe('pass');
      expect(pooled.res.gates.map((g) => [g.gate, g.value])).toEqual(inline.res.gates.map((g) => [g.gate, g.value]));
      for (const { diffs } of [pooled, inline]) {
        expect(diffs.map((d) => [d.url, d.diffs])).toEqual([[`/docs/${PLANTED}`, [{ path: '$.total', kind: 'changed', expected: 30, actual: 31 }]]]);
      }
    } finally {
      await target.close();
    }
  }, 60_000);
});
