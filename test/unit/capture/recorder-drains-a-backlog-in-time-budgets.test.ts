import { describe, expect, it } from 'vitest';
import { createRecorder, type RawHttpExchange } from '../../../src/capture/recorder.js';
import { createRedactor } from '../../../src/core/redact.js';
import { createSessionKeyer, parseSessionKey } from '../../../src/core/sessions.js';
import type { Exchange } from '../../../src/core/exchange.js';
import { createMetrics } from '../../../src/metrics/metrics.js';
import type { ExchangeWriter } from '../../../src/store/types.js';
import { silentLogger } from '../../helpers/http.js';

const BODY = Buffer.from(JSON.stringify({ id: 'ord_1', note: 'x'.repeat(600) }));

function raw(i: number): RawHttpExchange {
  return {
    id: `ex-${i}`,
    direction: 'inbound',
    service: 'app',
    startedAt: Date.parse('2026-01-01T00:00:00Z') + i,
    durationMs: 1.5,
    connectionId: 'c-1',
    parent: undefined,
    method: 'GET',
    url: `/items/${i}`,
    requestHeaders: ['host', 'app', 'accept', 'application/json'],
    requestBody: [],
    requestTruncated: false,
    response: { status: 200, headers: ['content-type', 'application/json'], trailers: undefined, body: [BODY], truncated: false },
    error: undefined,
  };
}

describe('the recorder drains a backlog a time budget per event-loop turn', () => {
  it('writes a burst of 3,000 exchanges in a few large batches, each in its own turn, with the lines encoded for the writer', async () => {
    const batches: Array<{ size: number; turn: number; lines: number }> = [];
    const written: Exchange[] = [];
    let turn = 0;
    const writer: ExchangeWriter = {
      bytesWritten: 0,
      append: () => Promise.reject(new Error('the recorder hands batches')),
      appendBatch: (exchanges, lines) => {
        batches.push({ size: exchanges.length, turn, lines: lines?.length ?? 0 });
        written.push(...exchanges);
        return Promise.resolve();
      },
      flush: () => Promise.resolve(),
      close: () => Promise.resolve(),
    };
    const metrics = createMetrics();
    const recorder = createRecorder({
      writer,
      log: silentLogger().log,
      metrics,
      redactor: createRedactor({ key: Buffer.from('k') }),
      sessionKeyer: createSessionKeyer(parseSessionKey('exchange'), (v) => v),
      queueItems: 10_000,
      queueBytes: 64 * 1024 * 1024,
    });
    let ticking = true;
    const tick = () => {
      turn++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const n = 3000;
    for (let i = 0; i < n; i++) expect(recorder.offer(raw(i))).toBe(true);
    await recorder.flush();
    ticking = false;

    expect(written.map((e) => e.id)).toEqual(Array.from({ length: n }, (_, i) => `ex-${i}`));
    expect(recorder.status()).toMatchObject({ recorded: n, dropped: 0, queued: 0 });
    // Bounded: 3,000 exchanges take well over the 1 ms budget to prepare, so no turn takes them all.
    expect(batches.length).toBeGreaterThan(2);
    // Not a fixed small slice (16 per turn fell behind a loaded proxy): the budget takes far more.
    expect(Math.max(...batches.map((b) => b.size))).toBeGreaterThan(64);
    // One batch per turn of the event loop, so proxying gets the thread between them.
    expect(new Set(batches.map((b) => b.turn)).size).toBe(batches.length);
    // Encoded within the budget, not by the writer after it.
    expect(batches.every((b) => b.lines === b.size)).toBe(true);
    await recorder.close();
  });
});
