/**
 * The record relay builds each exchange's store line itself and hands the
 * writer whole batches. What reaches the disk must be byte for byte what
 * JSON.stringify of the same exchanges writes, for every kind of statement a
 * real server answers, and every exchange must arrive once, in order.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { startPgRecorder } from '../../src/capture/pg-recorder.js';
import type { Exchange } from '../../src/core/exchange.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { createFileStoreWriter } from '../../src/store/file-store.js';
import type { ExchangeWriter } from '../../src/store/types.js';
import { PG, removeDir, sinkLogger, tempDir } from '../helpers/pg-harness.js';

const AWKWARD = 'quote " backslash \\ tab\t newline\n é ✓ 日本 😀 \u2028';

async function workload(port: number): Promise<void> {
  const c = new pg.Client({ host: '127.0.0.1', port, user: PG.user, database: PG.database });
  await c.connect();
  c.on('notice', () => undefined);
  const tryQuery = async (q: string | pg.QueryConfig, values?: unknown[]) => {
    try {
      await c.query(q as string, values);
    } catch {
      // the error is what is recorded
    }
  };
  try {
    await c.query(`SELECT 1 AS a, NULL AS z; SELECT $$${AWKWARD}$$ AS "é ""b"""`);
    await c.query('SELECT $1::text AS t, $2::int AS n, $3::text AS nothing', [AWKWARD, 7, null]);
    // node-postgres asks for binary results with `binary`, which its types leave out.
    const binary = { text: 'SELECT $1::int4 AS i, $2::bytea AS raw, now()::date AS d', values: [42, Buffer.from([0, 255, 34])], binary: true };
    await c.query(binary as pg.QueryConfig);
    await c.query({ name: 'named_one', text: 'SELECT $1::text || $2::text AS joined', values: ['a"', 'b\\'] });
    await c.query({ name: 'named_one', text: 'SELECT $1::text || $2::text AS joined', values: ['c', 'd'] });
    await c.query(`DO $$ BEGIN RAISE NOTICE 'notice with "quotes" and %', E'a\\tb'; END $$`);
    await c.query('');
    await tryQuery('SELEC 1');
    await tryQuery('SELECT $1::int AS bad', ['abc']);
    // Fails while rows are produced, after Bind: an error of the execute phase.
    await tryQuery('SELECT 1 / (n - $1::int) AS div FROM generate_series(1, 3) n', [2]);
    await c.query('BEGIN');
    await tryQuery('SELECT nope FROM nowhere');
    await c.query('ROLLBACK');
  } finally {
    await c.end();
  }
  // A cursor left after its first rows: Execute with a row limit, answered PortalSuspended, then Sync.
  const sql = postgres({ host: '127.0.0.1', port, user: PG.user, database: PG.database, max: 1, onnotice: () => undefined });
  try {
    for await (const rows of sql`SELECT generate_series(1, 5) AS n`.cursor(2)) {
      if (rows.length > 0) break;
    }
  } finally {
    await sql.end();
  }
}

describe('the record relay`s store lines', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await removeDir(d);
  });

  it('are JSON.stringify of each exchange, written once each, in order', async () => {
    const dir = await tempDir('pg-lines');
    dirs.push(dir);
    const file = await createFileStoreWriter({ dir });
    const given: Array<{ ex: Exchange; line: string | undefined }> = [];
    let batches = 0;
    // The file store, with what the relay hands it kept aside.
    const writer: ExchangeWriter = {
      append: (ex) => file.append(ex),
      appendBatch(exchanges, lines) {
        batches++;
        exchanges.forEach((ex, i) => given.push({ ex, line: lines?.[i] }));
        return (file.appendBatch as NonNullable<ExchangeWriter['appendBatch']>).call(file, exchanges, lines);
      },
      flush: () => file.flush(),
      close: () => file.close(),
      get bytesWritten() {
        return file.bytesWritten;
      },
    };
    const metrics = createMetrics();
    const rec = await startPgRecorder({ service: 'db', listen: { host: '127.0.0.1', port: 0 }, target: { host: PG.host, port: PG.port }, writer, log: sinkLogger().log, metrics });
    try {
      await workload(rec.address.port);
    } finally {
      await rec.close();
      await writer.close();
    }

    // Every kind of answer took part.
    const text = given.map((g) => g.line ?? '').join('\n');
    for (const part of ['"kind":"startup"', '"kind":"simple"', '"kind":"extended"', '"b64":', '"statement":"named_one"', '"suspended":true', '"pgErrorPhase":"bind"', '"pgErrorPhase":"execute"', '"code":"42601"', '"notices":[{', 'é ✓ 日本 😀', '\u2028']) {
      expect(text).toContain(part);
    }
    expect(given.length).toBeGreaterThanOrEqual(16);
    // Batched: fewer writer calls than exchanges.
    expect(batches).toBeLessThan(given.length);
    for (const g of given) expect(g.line).toBe(JSON.stringify(g.ex));

    const segments = (await readdir(dir)).filter((f) => f.startsWith('exchanges-')).sort();
    const onDisk = Buffer.concat(await Promise.all(segments.map((s) => readFile(join(dir, s)))));
    expect(onDisk.equals(Buffer.from(given.map((g) => `${JSON.stringify(g.ex)}\n`).join(''), 'utf8'))).toBe(true);

    const count = async (m: typeof metrics.exchangesRecorded | typeof metrics.recordDropped) => (await m.get()).values.reduce((a, v) => a + v.value, 0);
    expect(await count(metrics.exchangesRecorded)).toBe(given.length);
    expect(await count(metrics.recordDropped)).toBe(0);
  });
});
