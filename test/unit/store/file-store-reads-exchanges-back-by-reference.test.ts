import { appendFile, readdir, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Exchange } from '../../../src/core/exchange.js';
import { encodeExchange } from '../../../src/store/codec.js';
import { createFileStoreReader, createFileStoreWriter } from '../../../src/store/file-store.js';
import { httpExchange } from '../../helpers/exchanges.js';
import { tempDir } from '../../helpers/http.js';

async function writeStore(dir: string, exchanges: Exchange[], gzip = false): Promise<void> {
  const w = await createFileStoreWriter({ dir, gzip });
  for (const ex of exchanges) await w.append(ex);
  await w.close();
}

async function readWithRefs(dirs: string[]): Promise<Array<{ ex: Exchange; ref: string | undefined }>> {
  const refs = new Map<Exchange, string>();
  const out: Array<{ ex: Exchange; ref: string | undefined }> = [];
  for await (const ex of createFileStoreReader(dirs).read({ onRef: (e, ref) => refs.set(e, ref) })) out.push({ ex, ref: refs.get(ex) });
  return out;
}

describe('a file store reads exchanges back by the references its read reported', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir('doppel-refs-'));
  });
  afterEach(async () => {
    await cleanup();
  });

  it('every exchange of several directories, multi-byte text included, in the order asked', async () => {
    const a = [httpExchange({ url: '/a/1', body: '{"name":"Zoë 😀"}' }), httpExchange({ url: '/a/2' }), httpExchange({ url: '/a/3', body: '{"x":"ü"}' })];
    const b = [httpExchange({ url: '/b/1' }), httpExchange({ url: '/b/2', body: '{"y":"日本"}' })];
    await writeStore(join(dir, 'a'), a);
    await writeStore(join(dir, 'b'), b);
    const dirs = [join(dir, 'a'), join(dir, 'b')];
    const read = await readWithRefs(dirs);
    expect(read.map((r) => r.ex)).toEqual([...a, ...b]);
    const refs = read.map((r) => r.ref as string);
    expect(refs.every((r) => typeof r === 'string')).toBe(true);
    const reader = createFileStoreReader(dirs);
    expect(await reader.readRefs?.(refs)).toEqual([...a, ...b]);
    // out of order, repeated, across directories: each read where it lies
    const picks = [4, 0, 2, 2, 3, 1];
    expect(await reader.readRefs?.(picks.map((i) => refs[i] as string))).toEqual(picks.map((i) => [...a, ...b][i]));
  });

  it('gives no reference into a gzip segment, nor past text that decoded to a replacement character', async () => {
    await writeStore(join(dir, 'gz'), [httpExchange()], true);
    expect((await readWithRefs([join(dir, 'gz')])).map((r) => r.ref)).toEqual([undefined]);

    const first = httpExchange({ url: '/first' });
    await writeStore(join(dir, 'plain'), [first]);
    const seg = join(dir, 'plain', (await readdir(join(dir, 'plain'))).find((n) => n.endsWith('.ndjson')) as string);
    // invalid UTF-8 in a body: the decoded line no longer counts the bytes on disk
    const bad = Buffer.from(encodeExchange(httpExchange({ url: '/bad', body: 'X' })).replace('"X"', '"\u0001"'));
    bad[bad.indexOf(1)] = 0xff;
    const after = httpExchange({ url: '/after' });
    await appendFile(seg, Buffer.concat([bad, Buffer.from(`\n${encodeExchange(after)}\n`)]));
    const read = await readWithRefs([join(dir, 'plain')]);
    expect(read.map((r) => [r.ex.protocol === 'http' ? r.ex.http.request.url : '', r.ref === undefined])).toEqual([
      ['/first', false],
      ['/bad', true],
      ['/after', true],
    ]);
    expect(await createFileStoreReader([join(dir, 'plain')]).readRefs?.([read[0]?.ref as string])).toEqual([first]);
  });

  it('a reference the store no longer holds is an error, not a silent skip', async () => {
    await writeStore(join(dir, 's'), [httpExchange(), httpExchange()]);
    const read = await readWithRefs([join(dir, 's')]);
    const seg = join(dir, 's', (await readdir(join(dir, 's'))).find((n) => n.endsWith('.ndjson')) as string);
    await truncate(seg, 10);
    await expect(createFileStoreReader([join(dir, 's')]).readRefs?.([read[1]?.ref as string])).rejects.toMatchObject({ code: 'DOPPEL_STORE_IO' });
    await expect(createFileStoreReader([join(dir, 's')]).readRefs?.(['0/../../etc:0:1'])).rejects.toMatchObject({ code: 'DOPPEL_INTERNAL' });
    // every other shape that is not DIR/SEGMENT:OFFSET:LENGTH of these directories
    const good = read[0]?.ref as string;
    const base = good.slice(0, good.lastIndexOf(':', good.lastIndexOf(':') - 1));
    for (const bad of [`${base}:x:1`, `${base}:1:`, `${base}:1`, `${base}::1`, `9${base.slice(1)}:0:1`, `${base.slice(2)}:0:1`, `${base}:-1:4`, '']) {
      await expect(createFileStoreReader([join(dir, 's')]).readRefs?.([good, bad]), bad).rejects.toMatchObject({ code: 'DOPPEL_INTERNAL' });
    }
  });
  it('lines far longer than one read come back whole, with references, and a cut-off one is reported as the tail', async () => {
    // 1.5 MB bodies: each line spans some 24 reads of the 64 KiB the segment is read in.
    const big = (n: number) => httpExchange({ url: `/big/${n}`, body: JSON.stringify({ n, pad: `${n}`.repeat(1_500_000) }) });
    const written = [httpExchange({ url: '/small/1' }), big(7), httpExchange({ url: '/small/2' }), big(8), big(9)];
    await writeStore(join(dir, 'long'), written);
    const seg = join(dir, 'long', (await readdir(join(dir, 'long'))).find((n) => n.endsWith('.ndjson')) as string);
    const cut = encodeExchange(big(5));
    await appendFile(seg, cut.slice(0, Math.floor(cut.length / 2)));
    const corrupt: Array<{ line: number; isTail: boolean }> = [];
    const refs = new Map<Exchange, string>();
    const read: Exchange[] = [];
    for await (const ex of createFileStoreReader([join(dir, 'long')]).read({ onRef: (e, ref) => refs.set(e, ref), onCorrupt: (c) => corrupt.push({ line: c.line, isTail: c.isTail }) })) read.push(ex);
    expect(read).toEqual(written);
    expect(corrupt).toEqual([{ line: 6, isTail: true }]);
    const back = await createFileStoreReader([join(dir, 'long')]).readRefs?.(read.map((e) => refs.get(e) as string).reverse());
    expect(back).toEqual([...written].reverse());
  });
});
