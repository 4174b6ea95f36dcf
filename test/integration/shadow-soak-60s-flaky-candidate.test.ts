import { describe, expect, it } from 'vitest';
import { describeSoak, runSoak, soakOptionsFromEnv } from '../../bench/soak.js';

/**
 * The 60-second soak of `npm run soak` (bench/soak.ts): doppel shadow at a
 * fixed rate against a candidate that refuses, hangs and resets. No primary
 * request fails, every copy is judged or counted as dropped, and RSS and
 * active handles do not climb after the warm-up. A minute is short for a
 * slope, so its RSS bound is looser than the 10-minute run's (a leak of
 * 2.5 KB per request at 100 req/s still breaks it).
 */
describe('shadow soak, 60 seconds, flaky candidate', () => {
  it('zero primary failures, every copy accounted for, flat RSS and handle slopes', async () => {
    const o = soakOptionsFromEnv({}, { seconds: 60, rate: 100, warmupSeconds: 20, maxRssSlope: 256 * 1024, maxHandleSlope: 0.1 });
    const r = await runSoak(o);
    const text = describeSoak(r);
    process.stdout.write(`${text}\n`);
    expect(r.primaryFailures, text).toBe(0);
    expect(r.unaccounted, text).toBe(0);
    // The candidate really was flaky: every kind of fault happened and was counted.
    expect(r.candidate.hung, text).toBeGreaterThan(0);
    expect(r.candidate.reset, text).toBeGreaterThan(0);
    expect(r.candidate.refusalWindows, text).toBeGreaterThan(0);
    expect(r.dropped.candidate_timeout ?? 0, text).toBeGreaterThan(0);
    expect(r.dropped.candidate_error ?? 0, text).toBeGreaterThan(0);
    expect(r.judged, text).toBeGreaterThan(0);
    expect(r.failures, text).toEqual([]);
  }, 180_000);
});
