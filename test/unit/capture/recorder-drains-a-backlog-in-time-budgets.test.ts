import { describe, expect, it } from 'vitest';
import { createRecorder, type RawHttpExchange, type Recorder, type RecorderOptions } from '../../../src/capture/recorder.js';
import { createRedactor } from '../../../src/core/redact.js';
import { createSessionKeyer, parseSessionKey } from '../../../src/core/sessions.js';
import type { Exchange } from '../../../src/core/exchange.js';
import { createMetrics } from '../../../src/metrics/metrics.js';
import type { ExchangeWriter } from '../../../src/store/types.js';
import { silentLogger } from '../../helpers/http.js';

const BODY = Buffer.from(JSON.stringify({ id: 'ord_1', note: 'x'.repeat(600) }));

function raw(i: number, body: Buffer = BODY): RawHttpExchange {
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
    response: { status: 200, headers: ['content-type', 'application/json'], trailers: undefined, body: [body], truncated: false },
    error: undefined,
  };
}

function batchingWriter(): { writer: ExchangeWriter; batches: Array<{ size: number; turn: number; lines: number }>; written: Exchange[]; turn: { n: number } } {
  const batches: Array<{ size: number; turn: number; lines: number }> = [];
  const written: Exchange[] = [];
  const turn = { n: 0 };
  const writer: ExchangeWriter = {
    bytesWritten: 0,
    append: () => Promise.reject(new Error('the recorder hands batches')),
    appendBatch: (exchanges, lines) => {
      batches.push({ size: exchanges.length, turn: turn.n, lines: lines?.length ?? 0 });
      written.push(...exchanges);
      return Promise.resolve();
    },
    flush: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
  return { writer, batches, written, turn };
}

/** A recorder over `writer` with a silent log and no redaction; `limits` sets the queue and in-flight bounds. */
function recorderOver(writer: ExchangeWriter, limits: Pick<RecorderOptions, 'queueItems' | 'queueBytes' | 'maxInFlightBytes'>): Recorder {
  return createRecorder({
    writer,
    log: silentLogger().log,
    metrics: createMetrics(),
    redactor: createRedactor({ key: Buffer.from('k') }),
    sessionKeyer: createSessionKeyer(parseSessionKey('exchange'), (v) => v),
    ...limits,
  });
}

/** Counts event-loop turns until stopped. */
function countTurns(turn: { n: number }): () => void {
  let ticking = true;
  const tick = () => {
    turn.n++;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  return () => {
    ticking = false;
  };
}

describe('the recorder drains a backlog a time budget per event-loop turn', () => {
  it('writes a burst of 3,000 exchanges in a few large batches, each in its own turn, with the lines encoded for the writer', async () => {
    const { writer, batches, written, turn } = batchingWriter();
    const recorder = recorderOver(writer, { queueItems: 10_000, queueBytes: 64 * 1024 * 1024 });
    const stopTurns = countTurns(turn);
    const n = 3000;
    for (let i = 0; i < n; i++) expect(recorder.offer(raw(i))).toBe(true);
    await recorder.flush();
    stopTurns();

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

  it('stops a turn one exchange past the budget when each exchange takes longer than it (large bodies)', async () => {
    const { writer, batches, written, turn } = batchingWriter();
    const recorder = recorderOver(writer, { queueItems: 100, queueBytes: 256 * 1024 * 1024, maxInFlightBytes: 256 * 1024 * 1024 });
    // 4 MB of JSON full of quotes: checking, copying and escaping it takes well over 1 ms.
    const big = Buffer.from(JSON.stringify({ items: Array.from({ length: 200_000 }, (_, i) => `v${i}`) }).padEnd(4 * 1024 * 1024, ' '));
    const stopTurns = countTurns(turn);
    const n = 10;
    for (let i = 0; i < n; i++) expect(recorder.offer(raw(i, big))).toBe(true);
    await recorder.flush();
    stopTurns();
    expect(written.map((e) => e.id)).toEqual(Array.from({ length: n }, (_, i) => `ex-${i}`));
    // Each exchange alone exceeds the budget: every turn takes exactly one.
    expect(batches.map((b) => b.size)).toEqual(Array.from({ length: n }, () => 1));
    expect(new Set(batches.map((b) => b.turn)).size).toBe(n);
    await recorder.close();
  });
});
