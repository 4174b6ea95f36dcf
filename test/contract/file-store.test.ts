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
});
