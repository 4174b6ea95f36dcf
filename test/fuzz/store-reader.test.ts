import { describe, it } from 'vitest';
import { fuzz } from './fuzz-run.js';
import { checkGzipSegment, checkNdjsonSegment, gzipArb, ndjsonArb } from './targets/store-reader.js';

describe('file store reader under fuzzing', () => {
  it('reads every good NDJSON line and counts every corrupt one', async () => {
    await fuzz('store-ndjson', ndjsonArb, checkNdjsonSegment, 150);
  });

  it('reads what a cut or damaged gzip segment holds and counts the damage', async () => {
    await fuzz('store-gzip', gzipArb, checkGzipSegment, 150);
  });
});
