import { appendFile, mkdtemp, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync, gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createFileStoreReader, createFileStoreWriter } from '../../src/store/file-store.js';
import { DoppelError } from '../../src/core/errors.js';
import { httpExchange } from '../helpers/exchanges.js';
import { describeStoreContract, type StoreBackend } from './store-contract.js';

async function segments(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.startsWith('exchanges-')).sort();
}

const fileBackend: StoreBackend = {
  name: 'file',
  location: async () => join(await mkdtemp(join(tmpdir(), 'doppel-store-')), 'traffic'),
  writer: (dir, opts = {}) => createFileStoreWriter({ dir, flushIntervalMs: 5, ...opts }),
  reader: (dirs) => createFileStoreReader(dirs),
  async appendTornTail(dir) {
    const last = (await segments(dir)).at(-1) as string;
    const file = join(dir, last);
    const torn = '{"v":1,"id":"01TORN","session":"s","dire';
    if (last.endsWith('.gz')) {
      // a gzip member cut in the middle, as a crash during a write leaves it
      const member = gzipSync(`${torn}ction":"inbound"}\n`);
      await appendFile(file, member.subarray(0, member.length - 12));
    } else {
      await appendFile(file, torn);
    }
  },
  async corruptOneRecord(dir) {
    const last = (await segments(dir)).at(-1) as string;
    const file = join(dir, last);
    if (last.endsWith('.gz')) {
      const lines = gunzipSync(await readFile(file)).toString('utf8').split('\n');
      lines[2] = '{"v":1, this is not json';
      await writeFile(file, gzipSync(lines.join('\n')));
    } else {
      const lines = (await readFile(file, 'utf8')).split('\n');
      lines[2] = '{"v":1, this is not json';
      await writeFile(file, lines.join('\n'));
    }
  },
};

describeStoreContract(fileBackend, [{ gzip: false }, { gzip: true }]);

describe('file store specifics', () => {
  it('creates the directory 0700 and segments 0600, and writes a manifest', async () => {
    const dir = await fileBackend.location();
    const w = await createFileStoreWriter({ dir });
    await w.append(httpExchange());
    await w.close();
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    for (const f of await readdir(dir)) expect((await stat(join(dir, f))).mode & 0o777).toBe(0o600);
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ format: 'doppel-traffic', version: 1, services: ['orders'], counts: { exchanges: 1, inbound: 1, http: 1 } });
  });

  it('writes each exchange as its JSON.stringify text and a newline, byte for byte, multi-byte text and escapes included', async () => {
    const dir = await fileBackend.location();
    const w = await createFileStoreWriter({ dir });
    const written = ['plain', 'é ✓ 日本 😀', 'quote " backslash \\ tab\t nul\u0000', 'lone \ud800 surrogate', 'line sep \u2028'].map((body, i) => httpExchange({ url: `/t/${i}`, body }));
    await Promise.all(written.map((ex) => w.append(ex)));
    await w.close();
    const onDisk = await readFile(join(dir, (await segments(dir))[0] as string));
    expect(onDisk.equals(Buffer.from(written.map((ex) => `${JSON.stringify(ex)}\n`).join(''), 'utf8'))).toBe(true);
  });

  it('never appends to an existing segment when reopened', async () => {
    const dir = await fileBackend.location();
    const w1 = await createFileStoreWriter({ dir });
    await w1.append(httpExchange({ url: '/one' }));
    await w1.close();
    const w2 = await createFileStoreWriter({ dir });
    await w2.append(httpExchange({ url: '/two' }));
    await w2.close();
    expect(await segments(dir)).toEqual(['exchanges-000001.ndjson', 'exchanges-000002.ndjson']);
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.counts.exchanges).toBe(2);
  });

  it('refuses an unknown format version, naming file, line and version', async () => {
    const dir = await fileBackend.location();
    const w = await createFileStoreWriter({ dir });
    await w.append(httpExchange());
    await w.close();
    await appendFile(join(dir, 'exchanges-000001.ndjson'), '{"v":2,"id":"x","protocol":"http","direction":"inbound","http":{}}\n');
    const read = async () => {
      for await (const _ of createFileStoreReader([dir]).read()) void _;
    };
    await expect(read()).rejects.toThrow(/exchanges-000001\.ndjson:2: exchange format version 2 is not supported/);
  });

  it('refuses a manifest of an unknown version', async () => {
    const dir = await fileBackend.location();
    const w = await createFileStoreWriter({ dir });
    await w.close();
    await writeFile(join(dir, 'manifest.json'), JSON.stringify({ format: 'doppel-traffic', version: 9 }));
    const read = async () => {
      for await (const _ of createFileStoreReader([dir]).read()) void _;
    };
    await expect(read()).rejects.toThrow(/manifest\.json: traffic format version 9/);
  });

  it('names a missing directory', async () => {
    const missing = join(tmpdir(), 'doppel-no-such-dir-' + process.pid);
    const read = async () => {
      for await (const _ of createFileStoreReader([missing]).read()) void _;
    };
    await expect(read()).rejects.toBeInstanceOf(DoppelError);
    await expect(read()).rejects.toThrow(missing);
  });

  it('writes gzip segments that zcat-style readers decode whole', async () => {
    const dir = await fileBackend.location();
    const w = await createFileStoreWriter({ dir, gzip: true, batchBytes: 1000, flushIntervalMs: 2 });
    for (let i = 0; i < 30; i++) await w.append(httpExchange({ url: `/g/${i}` }));
    await w.close();
    const text = gunzipSync(await readFile(join(dir, 'exchanges-000001.ndjson.gz'))).toString('utf8');
    expect(text.trim().split('\n')).toHaveLength(30);
  });

  for (const gzip of [false, true]) {
    for (const turns of [0, 1, 3, 8]) {
      it(`a forced stop ${turns} event-loop turns into the writes writes every appended exchange once, in order, and a manifest that counts them${gzip ? ' (gzip)' : ''}`, async () => {
        const dir = await fileBackend.location();
        // Small batches and segments: many batches queued, one in flight, rotations on the way.
        const w = await createFileStoreWriter({ dir, gzip, batchBytes: 2000, segmentBytes: 8000, flushIntervalMs: 1 });
        const written = Array.from({ length: 300 }, (_, i) => httpExchange({ url: `/f/${i}`, body: 'y'.repeat(i % 7 === 0 ? 900 : 50) }));
        for (const ex of written) void w.append(ex).catch(() => undefined);
        for (let t = 0; t < turns; t++) await new Promise((r) => setImmediate(r));
        const r = w.flushSync?.(Date.now() + 5000);
        expect(r?.lost).toBe(0);
        expect(r?.reason).toBeUndefined();
        const corrupt: string[] = [];
        const back: string[] = [];
        for await (const ex of createFileStoreReader([dir]).read({ onCorrupt: (c) => corrupt.push(`${c.source}:${c.line}`) })) back.push((ex as { http: { request: { url: string } } }).http.request.url);
        expect(corrupt).toEqual([]);
        expect(back).toEqual(written.map((e) => e.http.request.url));
        const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
        expect(manifest.counts.exchanges).toBe(300);
        // An open the async path had started may leave one empty segment: nothing in it, not counted.
        let nonEmpty = 0;
        for (const f of await segments(dir)) if ((await stat(join(dir, f))).size > 0) nonEmpty++;
        expect(manifest.counts.segments).toBe(nonEmpty);
      });
    }
  }

  it('a forced stop past its deadline writes nothing more and says how many it left', async () => {
    const dir = await fileBackend.location();
    const w = await createFileStoreWriter({ dir, batchBytes: 1_000_000, flushIntervalMs: 1000 });
    for (let i = 0; i < 20; i++) void w.append(httpExchange({ url: `/late/${i}` })).catch(() => undefined);
    const r = w.flushSync?.(Date.now() - 1);
    expect(r).toMatchObject({ written: 0, lost: 20, reason: 'out of time' });
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.counts.exchanges).toBe(0);
  });
});
