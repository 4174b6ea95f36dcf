import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { startPgRecorder } from '../../src/capture/pg-recorder.js';
import type { PgExchange } from '../../src/core/exchange.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { createFileStoreReader, createFileStoreWriter } from '../../src/store/file-store.js';
import { PG, removeDir, sinkLogger, tempDir } from '../helpers/pg-harness.js';

describe('pg record relay under a burst', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await removeDir(d);
  });

  it('records a result of several MB whole through the batched decoder, nothing dropped', async () => {
    const dir = await tempDir('pg-record-burst');
    dirs.push(dir);
    const writer = await createFileStoreWriter({ dir });
    const metrics = createMetrics();
    const rec = await startPgRecorder({
      service: 'db',
      listen: { host: '127.0.0.1', port: 0 },
      target: { host: PG.host, port: PG.port },
      writer,
      log: sinkLogger().log,
      metrics,
      // ~6 MB of rows through a queue of 8 MB: a filling queue is decoded at once, not after the batching delay.
      queueBytes: 8 * 1024 * 1024,
    });
    const rows = 300;
    try {
      const c = new pg.Client({ host: '127.0.0.1', port: rec.address.port, user: PG.user, database: PG.database });
      await c.connect();
      const r = await c.query(`SELECT i, repeat(md5(i::text), 640) AS pad FROM generate_series(1, ${rows}) AS i`);
      expect(r.rows).toHaveLength(rows);
      await c.end();
    } finally {
      await rec.close();
      await writer.close();
    }
    const dropped = (await metrics.recordDropped.get()).values.reduce((n, v) => n + v.value, 0);
    expect(dropped).toBe(0);
    const recorded: PgExchange[] = [];
    for await (const ex of createFileStoreReader([dir]).read()) recorded.push(ex as PgExchange);
    const big = recorded.find((e) => e.pg.request.kind === 'simple' && e.pg.request.sql.includes('generate_series'));
    expect(big).toBeDefined();
    const res = (big as PgExchange).pg.response;
    expect('results' in res && res.results[0]?.rows).toHaveLength(rows);
    if ('results' in res) expect(res.results[0]?.rows[rows - 1]?.[0]).toBe(String(rows));
  });
});
