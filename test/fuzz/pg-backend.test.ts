import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { cutsArb, fuzz, splitAt } from './fuzz-run.js';
import { backendBatchArb, backendStreamArb, checkBackendStream, decodeBackend } from './targets/pg-backend-codec.js';

describe('pg backend decoder and writer under fuzzing', () => {
  it('reads back every message the writer wrote, however the batch is split', async () => {
    await fuzz(
      'pg-backend',
      fc.tuple(backendBatchArb, cutsArb),
      ([batch, cuts]) => {
        expect(decodeBackend(splitAt(batch.bytes, cuts))).toEqual({ events: batch.events });
      },
      400,
    );
  });

  it('throws only coded errors on damaged streams, at the same frame for any split', async () => {
    await fuzz('pg-backend', fc.tuple(backendStreamArb, cutsArb), ([input, cuts]) => checkBackendStream(input, splitAt(input, cuts)), 1500);
  });

  it('throws only coded errors on raw bytes', async () => {
    const raw = fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a));
    await fuzz('pg-backend', fc.tuple(raw, cutsArb), ([input, cuts]) => checkBackendStream(input, splitAt(input, cuts)), 500);
  });
});
