import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GOR_SEPARATOR, readGorPayloads, type GorPayload } from '../../../src/formats/gor.js';

describe('.gor payload reader', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('splits on the separator, passes over a payload larger than the cap, and reads on after it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'doppel-gor-'));
    dirs.push(dir);
    const file = join(dir, 'x.gor');
    const big = Buffer.alloc(300_000, 0x61);
    await writeFile(file, Buffer.concat([Buffer.from('first'), GOR_SEPARATOR, big, GOR_SEPARATOR, Buffer.from('last'), GOR_SEPARATOR]));
    const got: GorPayload[] = [];
    for await (const p of readGorPayloads(file, 100_000)) got.push(p);
    expect(got.map((p) => ('bytes' in p ? p.bytes.toString() : `oversized ${p.oversized}`))).toEqual(['first', `oversized ${big.length}`, 'last']);
  });

  it('finds separators split across read chunks at every offset', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'doppel-gor-'));
    dirs.push(dir);
    const file = join(dir, 'y.gor');
    // 64 KiB read chunks: payloads of varying length put the separator across every chunk boundary position
    const payloads = Array.from({ length: 40 }, (_, i) => Buffer.alloc(65_536 - 7 + i, 0x30 + (i % 10)));
    await writeFile(file, Buffer.concat(payloads.flatMap((p) => [p, GOR_SEPARATOR])));
    const got: Buffer[] = [];
    for await (const p of readGorPayloads(file)) if ('bytes' in p) got.push(p.bytes);
    expect(got.length).toBe(payloads.length);
    got.forEach((g, i) => expect(g.equals(payloads[i] as Buffer)).toBe(true));
  });
});
