/**
 * The forced stop (a second signal) of a record relay: statements relayed a
 * moment ago still wait in the relay's queue (decoded in 5 ms batches) or in
 * its hand-over batch. drainSync must decode them and hand them to the writer
 * synchronously, so the writer's synchronous flush puts every one on disk.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { startPgRecorder } from '../../src/capture/pg-recorder.js';
import type { Exchange } from '../../src/core/exchange.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { createFileStoreReader, createFileStoreWriter } from '../../src/store/file-store.js';
import { PG, removeDir, sinkLogger, tempDir } from '../helpers/pg-harness.js';

describe('a Postgres record relay stopped by force', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await removeDir(d);
  });

  it('writes every statement relayed before the stop, none twice', async () => {
    const dir = await tempDir('pg-forced');
    dirs.push(dir);
    const writer = await createFileStoreWriter({ dir });
    const rec = await startPgRecorder({ service: 'db', listen: { host: '127.0.0.1', port: 0 }, target: { host: PG.host, port: PG.port }, writer, log: sinkLogger().log, metrics: createMetrics() });
    const c = new pg.Client({ host: '127.0.0.1', port: rec.address.port, user: PG.user, database: PG.database });
    await c.connect();
    const n = 40;
    for (let i = 0; i < n; i++) await c.query('SELECT $1::int AS i', [i]);
    // No pause: the last answers were relayed but not yet decoded.
    rec.drainSync();
    const last = writer.flushSync?.(Date.now() + 5_000);
    expect(last?.lost).toBe(0);
    await c.end().catch(() => undefined);
    // The process would exit here: appends the forced stop took over never settle, so close is not awaited.
    void rec.close().catch(() => undefined);

    const stored: Exchange[] = [];
    for await (const ex of createFileStoreReader([dir]).read()) stored.push(ex);
    const values = stored.flatMap((ex) => (ex.protocol === 'pg' && ex.pg.request.kind === 'extended' ? (ex.pg.request.params ?? []) : []));
    expect(stored[0]?.protocol === 'pg' && stored[0].pg.request.kind).toBe('startup');
    expect(values).toEqual(Array.from({ length: n }, (_, i) => String(i)));
  });
});
