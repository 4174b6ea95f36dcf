import { describe, expect, it } from 'vitest';
import { createDaemon } from '../../src/daemon.js';
import { parseConfig } from '../../src/config/load.js';
import { readRuntimeEnv } from '../../src/config/env.js';

describe('daemon metrics', () => {
  it('export the process GC pauses by kind with a bucket at 1 ms, beside doppel metrics', async () => {
    const daemon = createDaemon({ config: parseConfig('{}', 't.yaml', {}), runtime: readRuntimeEnv({}), logStream: { write: () => true } as never });
    // Enough short-lived garbage to run scavenges whatever the young generation's size; stored in a
    // small ring so the optimiser cannot drop the allocations.
    const ring: unknown[] = new Array(1024);
    for (let i = 0; i < 2_000_000; i++) ring[i & 1023] = { i, s: `x${i}` };
    // GC entries reach the observer asynchronously.
    for (let i = 0; i < 100 && !/nodejs_gc_duration_seconds_count\{kind="minor"\}/.test(await daemon.metrics.registry.metrics()); i++) await new Promise((r) => setTimeout(r, 10));
    const text = await daemon.metrics.registry.metrics();
    expect(text).toMatch(/^nodejs_gc_duration_seconds_bucket\{le="0\.001",kind="minor"\} \d+$/m);
    expect(text).toMatch(/^nodejs_gc_duration_seconds_count\{kind="minor"\} [1-9]\d*$/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds /m);
    expect(text).toMatch(/^# TYPE doppel_shadow_dropped_total counter$/m);
    await daemon.close();
  });
});
