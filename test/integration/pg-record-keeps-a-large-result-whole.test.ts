import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { PgExchange } from '../../src/core/exchange.js';
import { PG, record, removeDir, type Recording } from '../helpers/pg-harness.js';

const READY_FOR_QUERY = 0x5a;

/**
 * Startup as user postgres on a raw socket, then one simple Query; after
 * sending it, reads nothing for `stallMs` (so every buffer between the
 * server and this socket fills), then everything up to ReadyForQuery.
 * Resolves with the bytes that answered the Query.
 */
function answerToQuery(port: number, sql: string, stallMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const params = Buffer.from(`user\0${PG.user}\0database\0${PG.database}\0\0`);
    const startup = Buffer.alloc(8);
    startup.writeInt32BE(8 + params.length, 0);
    startup.writeInt32BE(196608, 4);
    const text = Buffer.from(`${sql}\0`);
    const query = Buffer.alloc(5);
    query[0] = 0x51;
    query.writeInt32BE(4 + text.length, 1);
    const chunks: Buffer[] = [];
    let held: Buffer = Buffer.alloc(0);
    let answerFrom = -1;
    let received = 0;
    const sock = connect({ host: '127.0.0.1', port });
    sock.on('error', reject);
    sock.on('connect', () => sock.write(Buffer.concat([startup, params])));
    sock.on('data', (c: Buffer) => {
      chunks.push(c);
      received += c.length;
      held = held.length === 0 ? c : Buffer.concat([held, c]);
      // Whole messages only: a ReadyForQuery is recognised by its type byte at a message boundary.
      while (held.length >= 5 && held.length >= 1 + held.readInt32BE(1)) {
        const type = held[0];
        held = held.subarray(1 + held.readInt32BE(1));
        if (type !== READY_FOR_QUERY) continue;
        if (answerFrom >= 0) {
          sock.destroy();
          resolve(Buffer.concat(chunks).subarray(answerFrom, received - held.length));
          return;
        }
        answerFrom = received - held.length;
        sock.write(Buffer.concat([query, text]));
        sock.pause();
        setTimeout(() => sock.resume(), stallMs);
      }
    });
  });
}

describe('pg record relay under a burst', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await removeDir(d);
  });

  const droppedOf = async (r: Recording) => (await r.metrics.recordDropped.get()).values.reduce((n, v) => n + v.value, 0);
  const resultOf = (r: Recording, sql: string) => (r.exchanges as PgExchange[]).find((e) => e.pg.request.kind === 'simple' && e.pg.request.sql === sql)?.pg.response;

  it('records a result of several MB whole through the batched decoder, nothing dropped', async () => {
    const rows = 300;
    const sql = `SELECT i, repeat(md5(i::text), 640) AS pad FROM generate_series(1, ${rows}) AS i`;
    const recording = await record(
      'db',
      async (port) => {
        const c = new pg.Client({ host: '127.0.0.1', port, user: PG.user, database: PG.database });
        await c.connect();
        expect((await c.query(sql)).rows).toHaveLength(rows);
        await c.end();
      },
      // ~6 MB of rows through a queue of 8 MB: a filling queue is decoded at once, not after the batching delay.
      { queueBytes: 8 * 1024 * 1024 },
    );
    dirs.push(recording.dir);
    expect(await droppedOf(recording)).toBe(0);
    const res = resultOf(recording, sql);
    expect(res !== undefined && 'results' in res && res.results[0]?.rows).toHaveLength(rows);
    if (res !== undefined && 'results' in res) expect(res.results[0]?.rows[rows - 1]?.[0]).toBe(String(rows));
  });

  it('relays a result larger than every socket buffer to a client that stalls, byte for byte, and records it', async () => {
    // 16 MB of rows, each different: bytes of one read landing in another's place would show.
    const rows = 4000;
    const sql = `SELECT i, repeat(md5(i::text), 128) AS pad FROM generate_series(1, ${rows}) AS i`;
    let relayed: Buffer = Buffer.alloc(0);
    const recording = await record(
      'db',
      async (port) => {
        relayed = await answerToQuery(port, sql, 500);
      },
      { queueBytes: 64 * 1024 * 1024 },
    );
    dirs.push(recording.dir);
    const direct = await answerToQuery(PG.port, sql, 0);
    expect(relayed.length).toBeGreaterThan(16_000_000);
    expect(relayed.equals(direct)).toBe(true);
    expect(await droppedOf(recording)).toBe(0);
    const res = resultOf(recording, sql);
    expect(res !== undefined && 'results' in res).toBe(true);
    if (res === undefined || !('results' in res)) return;
    const got = res.results[0]?.rows ?? [];
    expect(got).toHaveLength(rows);
    const pad = (i: number) => createHash('md5').update(String(i)).digest('hex').repeat(128);
    for (const i of [1, 2, rows / 2, rows - 1, rows]) expect(got[i - 1]).toEqual([String(i), pad(i)]);
    expect(got.every((r, k) => r[0] === String(k + 1))).toBe(true);
  });
});
