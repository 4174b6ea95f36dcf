import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { startPgRecorder } from '../../src/capture/pg-recorder.js';
import type { PgExchange } from '../../src/core/exchange.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { createFileStoreReader, createFileStoreWriter } from '../../src/store/file-store.js';
import { PG, removeDir, sinkLogger, tempDir } from '../helpers/pg-harness.js';

describe('pg recording by several recorders', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await removeDir(d);
  });

  it('names each client connection (the session of its exchanges) with the recorder id, so replicas never merge theirs', async () => {
    const dir = await tempDir('pg-recorder-id');
    dirs.push(dir);
    const writer = await createFileStoreWriter({ dir });
    const sessions: string[] = [];
    for (const recorderId of ['rec-a', 'rec-b']) {
      const rec = await startPgRecorder({
        service: 'db',
        listen: { host: '127.0.0.1', port: 0 },
        target: { host: PG.host, port: PG.port },
        writer,
        log: sinkLogger().log,
        metrics: createMetrics(),
        recorderId,
      });
      try {
        const c = new pg.Client({ host: '127.0.0.1', port: rec.address.port, user: PG.user, database: PG.database });
        await c.connect();
        expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
        await c.end();
      } finally {
        await rec.close();
      }
    }
    await writer.close();
    for await (const ex of createFileStoreReader([dir]).read()) {
      const p = ex as PgExchange;
      expect(p.session).toBe(p.pg.connection);
      sessions.push(p.session);
    }
    const a = sessions.filter((s) => s.startsWith('rec-a/c-'));
    const b = sessions.filter((s) => s.startsWith('rec-b/c-'));
    expect(a.length).toBeGreaterThanOrEqual(2);
    expect(b.length).toBeGreaterThanOrEqual(2);
    expect(a.length + b.length).toBe(sessions.length);
    expect(new Set(a).size).toBe(1);
    expect(new Set(b).size).toBe(1);
  });
});
