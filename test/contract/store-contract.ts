/**
 * The contract every traffic store backend passes. A backend provides a
 * factory for a fresh location, a writer and a reader; the same cases run
 * against each (file store now, Redis when it lands).
 */
import { describe, expect, it } from 'vitest';
import type { Exchange } from '../../src/core/exchange.js';
import type { Cluster, Redis } from 'ioredis';
import { createRedisStoreReader, createRedisStoreWriter, parseRedisStoreUrl } from '../../src/store/redis-store.js';
import type { CorruptRecord, ExchangeReader, ExchangeWriter } from '../../src/store/types.js';
import { httpExchange, pgExchange } from '../helpers/exchanges.js';

export interface StoreBackend {
  name: string;
  /** a fresh, empty location */
  location(): Promise<string>;
  writer(location: string, opts?: { segmentBytes?: number; gzip?: boolean }): Promise<ExchangeWriter>;
  reader(locations: string[]): ExchangeReader;
  /** simulate a crash: append raw bytes that are a cut-off record */
  appendTornTail(location: string): Promise<void>;
  /** damage one stored record in the middle */
  corruptOneRecord(location: string): Promise<void>;
}

async function readAll(reader: ExchangeReader, corrupt: CorruptRecord[] = []): Promise<Exchange[]> {
  const out: Exchange[] = [];
  for await (const ex of reader.read({ onCorrupt: (r) => corrupt.push(r) })) out.push(ex);
  return out;
}

/** The Redis store as a contract backend, on one server or a cluster; `raw` damages streams behind its back. */
export function redisStoreBackend(name: string, location: () => string, raw: Redis | Cluster): StoreBackend {
  return {
    name,
    location: () => Promise.resolve(location()),
    writer: (url) => createRedisStoreWriter({ url, flushIntervalMs: 5 }),
    reader: (urls) => createRedisStoreReader(urls),
    async appendTornTail(url) {
      // What a writer cut off mid-line leaves: the last entry holds part of a JSON line.
      await raw.xadd(parseRedisStoreUrl(url).streamKey, '*', 'x', '{"v":1,"id":"01TORN","session":"s","dire');
    },
    async corruptOneRecord(url) {
      // A stream entry cannot be edited: rebuild the stream under the same ids with entry 3 damaged.
      const key = parseRedisStoreUrl(url).streamKey;
      const entries = await raw.xrange(key, '-', '+');
      const p = raw.multi().del(key);
      entries.forEach(([id, fields], i) => p.xadd(key, id, ...(i === 2 ? ['x', '{"v":1, this is not json'] : fields)));
      await p.exec();
    },
  };
}

export function describeStoreContract(backend: StoreBackend, variants: Array<{ gzip: boolean }> = [{ gzip: false }]): void {
  for (const variant of variants) {
    describe(`${backend.name} store contract${variant.gzip ? ' (gzip)' : ''}`, () => {
      it('reads back every appended exchange, in order, equal field for field', async () => {
        const loc = await backend.location();
        const w = await backend.writer(loc, variant);
        const written: Exchange[] = [];
        for (let i = 0; i < 50; i++) written.push(i % 5 === 0 ? pgExchange(`select ${i}`, i) : httpExchange({ url: `/orders/${i}` }));
        await Promise.all(written.map((ex) => w.append(ex)));
        await w.close();
        expect(await readAll(backend.reader([loc]))).toEqual(written);
      });

      it('appends a batch with one promise, in order among single appends, counting its bytes like theirs', async () => {
        const single = await backend.location();
        const batched = await backend.location();
        const ws = await backend.writer(single, variant);
        const wb = await backend.writer(batched, variant);
        const written: Exchange[] = [];
        for (let i = 0; i < 30; i++) written.push(i % 3 === 0 ? pgExchange(`select ${i}, 'é "q"'`, i) : httpExchange({ url: `/b/${i}` }));
        await Promise.all(written.map((ex) => ws.append(ex)));
        const appendBatch = wb.appendBatch?.bind(wb);
        expect(appendBatch).toBeDefined();
        const first = wb.append(written[0] as Exchange);
        // The middle ten come with their lines already encoded, the rest are encoded by the writer.
        const batch = appendBatch?.(written.slice(1, 11), written.slice(1, 11).map((ex) => JSON.stringify(ex)));
        const rest = appendBatch?.(written.slice(11));
        await Promise.all([first, batch, rest]);
        expect(wb.bytesWritten).toBe(ws.bytesWritten);
        await ws.close();
        await wb.close();
        expect(await readAll(backend.reader([batched]))).toEqual(written);
      });

      it('refuses a batch after close, rejecting its one promise', async () => {
        const loc = await backend.location();
        const w = await backend.writer(loc, variant);
        await w.close();
        await expect(w.appendBatch?.([httpExchange()])).rejects.toThrow(/closed/);
      });

      it('rotates segments by size without splitting a record', async () => {
        const loc = await backend.location();
        const w = await backend.writer(loc, { ...variant, segmentBytes: 2048 });
        const written = Array.from({ length: 40 }, (_, i) => httpExchange({ url: `/r/${i}`, body: 'x'.repeat(200) }));
        for (const ex of written) await w.append(ex);
        await w.close();
        expect(await readAll(backend.reader([loc]))).toEqual(written);
      });

      it('streams several locations one after another', async () => {
        const a = await backend.location();
        const b = await backend.location();
        const wa = await backend.writer(a, variant);
        const wb = await backend.writer(b, variant);
        const ea = [httpExchange({ url: '/a/1' }), httpExchange({ url: '/a/2' })];
        const eb = [httpExchange({ url: '/b/1' })];
        for (const ex of ea) await wa.append(ex);
        for (const ex of eb) await wb.append(ex);
        await Promise.all([wa.close(), wb.close()]);
        const urls = (await readAll(backend.reader([a, b]))).map((ex) => (ex.protocol === 'http' ? ex.http.request.url : ''));
        expect(urls).toEqual(['/a/1', '/a/2', '/b/1']);
      });

      it('keeps what was flushed before a crash and counts the cut-off tail', async () => {
        const loc = await backend.location();
        const w = await backend.writer(loc, variant);
        const written = [httpExchange({ url: '/before/1' }), httpExchange({ url: '/before/2' })];
        for (const ex of written) await w.append(ex);
        await w.flush();
        await backend.appendTornTail(loc);
        const corrupt: CorruptRecord[] = [];
        expect(await readAll(backend.reader([loc]), corrupt)).toEqual(written);
        expect(corrupt).toHaveLength(1);
        expect(corrupt[0]?.isTail).toBe(true);
        await w.close().catch(() => undefined);
      });

      it('skips and reports a corrupt record in the middle, reading the rest', async () => {
        const loc = await backend.location();
        const w = await backend.writer(loc, variant);
        const written = Array.from({ length: 5 }, (_, i) => httpExchange({ url: `/c/${i}` }));
        for (const ex of written) await w.append(ex);
        await w.close();
        await backend.corruptOneRecord(loc);
        const corrupt: CorruptRecord[] = [];
        const read = await readAll(backend.reader([loc]), corrupt);
        expect(read).toHaveLength(4);
        expect(corrupt).toHaveLength(1);
        expect(corrupt[0]?.isTail).toBe(false);
        expect(corrupt[0]?.line).toBeGreaterThan(0);
      });

      it('reports bytes written for quotas', async () => {
        const loc = await backend.location();
        const w = await backend.writer(loc, variant);
        expect(w.bytesWritten).toBe(0);
        const appended = w.append(httpExchange());
        // Counted from the moment it is accepted, so a quota never lets a burst through unseen.
        const accepted = w.bytesWritten;
        expect(accepted).toBeGreaterThan(100);
        await appended;
        await w.flush();
        expect(w.bytesWritten).toBe(accepted);
        const second = w.append(httpExchange());
        expect(w.bytesWritten).toBe(accepted * 2);
        await second;
        expect(w.bytesWritten).toBe(accepted * 2);
        await w.close();
      });
    });
  }
}
