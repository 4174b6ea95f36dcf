import { describe, expect, it } from 'vitest';
import { Value } from '@sinclair/typebox/value';
import { createJudgePool } from '../../src/judge/judge-pool.js';
import { CompareSchema, type CompareConfig } from '../../src/config/schema.js';
import { resolveCompare } from '../../src/config/resolve.js';
import { createLogger } from '../../src/core/logger.js';

const json = (v: unknown) => ({ status: 200, headers: [['content-type', 'application/json']] as Array<[string, string]>, body: Buffer.from(JSON.stringify(v)) });

describe('judge worker pool', () => {
  it('compares in a worker thread, and refuses work beyond its bounded queue instead of queueing it', async () => {
    const pool = createJudgePool({ compare: resolveCompare(Value.Default(CompareSchema, {}) as CompareConfig), workers: 1, maxQueued: 2, log: createLogger({ level: 'silent' }) });
    try {
      const big = Array.from({ length: 20_000 }, (_, i) => ({ id: i, name: `item-${i}` }));
      const changed = big.map((x) => (x.id === 7 ? { ...x, name: 'other' } : x));
      const accepted: Array<Promise<unknown>> = [];
      let refused = 0;
      for (let i = 0; i < 10; i++) {
        const p = pool.compare(json(big), json(i === 0 ? changed : big), 'GET /items');
        if (p === undefined) refused++;
        else accepted.push(p);
      }
      // one running + two queued; the other seven were refused at once
      expect(accepted).toHaveLength(3);
      expect(refused).toBe(7);
      const [first] = (await Promise.all(accepted)) as Array<{ isMatch: boolean; diffs: Array<{ path: string }> }>;
      expect(first?.isMatch).toBe(false);
      expect(first?.diffs.map((d) => d.path)).toEqual(['$[7].name']);
      expect(pool.pending).toBe(0);
    } finally {
      await pool.close();
    }
  });
});
