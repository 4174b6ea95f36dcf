import { appendFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Exchange } from '../../../src/core/exchange.js';
import { createMetrics } from '../../../src/metrics/metrics.js';
import { createRequestFilter } from '../../../src/replay/request-filter.js';
import { openReplaySource } from '../../../src/replay/replay-source.js';
import { createFileStoreReader, createFileStoreWriter } from '../../../src/store/file-store.js';
import { readInBatches, type ExchangeReader } from '../../../src/store/types.js';
import { httpExchange } from '../../helpers/exchanges.js';
import { silentLogger, tempDir } from '../../helpers/http.js';

async function writeStore(dir: string, exchanges: Exchange[]): Promise<void> {
  const w = await createFileStoreWriter({ dir });
  // appended together: each awaited alone would wait out a flush interval
  await Promise.all(exchanges.map((ex) => w.append(ex)));
  await w.close();
}

/** Enough exchanges, with bodies of a few hundred bytes, to span several reads of a segment. */
function traffic(n: number, prefix: string): Exchange[] {
  return Array.from({ length: n }, (_, i) => httpExchange({ url: `/${prefix}/${i}`, body: JSON.stringify({ i, pad: 'x'.repeat(300) }) }));
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const urlOf = (ex: Exchange): string => (ex.protocol === 'http' ? ex.http.request.url : '');

describe('a file store reads the same stream in batches as one by one', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir('doppel-batches-'));
  });
  afterEach(async () => {
    await cleanup();
  });

  it('every exchange of several directories, in order, in more than one batch and none empty', async () => {
    const a = traffic(700, 'a');
    const b = traffic(300, 'b');
    await writeStore(join(dir, 'a'), a);
    await writeStore(join(dir, 'b'), b);
    const reader = createFileStoreReader([join(dir, 'a'), join(dir, 'b')]);
    expect('readBatches' in reader).toBe(true);
    const batches = await collect(reader.readBatches?.() ?? readInBatches({ read: () => reader.read() }));
    expect(batches.length).toBeGreaterThan(2);
    expect(batches.every((batch) => batch.length > 0)).toBe(true);
    expect(batches.flat().map(urlOf)).toEqual([...a, ...b].map(urlOf));
    expect((await collect(reader.read())).map(urlOf)).toEqual([...a, ...b].map(urlOf));
  });

  it('a line of an unknown format version still fails the read after the batch before it is delivered', async () => {
    const good = traffic(5, 'ok');
    await writeStore(dir, good);
    const seg = join(dir, (await readdir(dir)).find((n) => n.endsWith('.ndjson')) as string);
    await appendFile(seg, `${JSON.stringify({ ...httpExchange({ url: '/future' }), v: 99 })}\n`);
    const seen: string[] = [];
    const read = async () => {
      for await (const batch of readInBatches(createFileStoreReader([dir]))) for (const ex of batch) seen.push(urlOf(ex));
    };
    await expect(read()).rejects.toMatchObject({ code: 'DOPPEL_STORE_VERSION' });
    expect(seen).toEqual(good.map(urlOf));
  });

  it('readInBatches gives a reader without batches of its own one exchange a batch', async () => {
    const list = traffic(3, 'solo');
    const reader: ExchangeReader = {
      async *read() {
        yield* list;
      },
    };
    expect((await collect(readInBatches(reader))).map((b) => b.map(urlOf))).toEqual(list.map((ex) => [urlOf(ex)]));
  });

  it('the replay source filters and cuts at the limit inside a batch, read either way', async () => {
    const all = traffic(900, 'items');
    await writeStore(dir, all);
    const open = () =>
      openReplaySource({
        reader: createFileStoreReader([dir]),
        filter: createRequestFilter([], ['/items/1*']),
        limit: 500,
        dirs: [dir],
        metrics: createMetrics(),
        log: silentLogger().log,
      });
    const wanted = all.map(urlOf).filter((u) => !u.startsWith('/items/1')).slice(0, 500);
    const batched = await open();
    const batches = await collect(batched.batches);
    expect(batches.length).toBeGreaterThan(1);
    expect(batches.flat().map(urlOf)).toEqual(wanted);
    expect(batched.skips.filtered).toBeGreaterThan(0);
    const single = await open();
    expect((await collect(single.exchanges)).map(urlOf)).toEqual(wanted);
    expect(single.skips.filtered).toBe(batched.skips.filtered);
  });
});
