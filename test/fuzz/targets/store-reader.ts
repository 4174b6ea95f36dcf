/** The file store reader on damaged segments: NDJSON lines and gzip members. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { expect } from 'vitest';
import fc from 'fast-check';
import { isDoppelError } from '../../../src/core/errors.js';
import { decodeExchangeLine } from '../../../src/store/codec.js';
import { createFileStoreReader } from '../../../src/store/file-store.js';
import type { CorruptRecord } from '../../../src/store/types.js';
import type { FuzzTarget } from '../fuzz-run.js';

interface ReadOutcome {
  ids: string[];
  corrupt: CorruptRecord[];
  /** a DoppelError that ended the read (only a newer format version may) */
  error?: string;
}

async function readSegment(bytes: Buffer, isGzip: boolean): Promise<ReadOutcome> {
  const dir = await mkdtemp(join(tmpdir(), 'doppel-fuzz-store-'));
  try {
    await writeFile(join(dir, `exchanges-000001.ndjson${isGzip ? '.gz' : ''}`), bytes);
    const out: ReadOutcome = { ids: [], corrupt: [] };
    try {
      for await (const ex of createFileStoreReader([dir]).read({ onCorrupt: (r) => out.corrupt.push(r) })) out.ids.push(ex.id);
    } catch (err) {
      if (!isDoppelError(err)) throw err;
      expect(err.code).toBe('DOPPEL_STORE_VERSION');
      out.error = err.message;
    }
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** What the codec makes of each line of a text, read on its own. */
function expectedOf(text: string): { ids: string[]; corrupt: number; isVersionError: boolean } {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const ids: string[] = [];
  let corrupt = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.trim() === '') continue;
    try {
      const r = decodeExchangeLine(line, 'x', i + 1);
      if (r.ok) ids.push(r.exchange.id);
      else corrupt++;
    } catch {
      return { ids, corrupt, isVersionError: true };
    }
  }
  return { ids, corrupt, isVersionError: false };
}

/** NDJSON: every line the codec accepts is read, every other non-blank line is counted with its line number. */
export async function checkNdjsonSegment(input: Buffer): Promise<void> {
  const got = await readSegment(input, false);
  const want = expectedOf(input.toString('utf8'));
  expect(got.ids).toEqual(want.ids);
  expect(got.error !== undefined).toBe(want.isVersionError);
  if (!want.isVersionError) expect(got.corrupt.length).toBe(want.corrupt);
}

/**
 * gzip: a file that gunzips whole reads like its NDJSON; one that does not
 * (cut off, damaged) reads what it can and counts the damage at least once.
 */
export async function checkGzipSegment(input: Buffer): Promise<void> {
  const got = await readSegment(input, true);
  let text: string | undefined;
  try {
    text = gunzipSync(input).toString('utf8');
  } catch {
    text = undefined;
  }
  if (text !== undefined) {
    const want = expectedOf(text);
    expect(got.ids).toEqual(want.ids);
    if (!want.isVersionError && got.error === undefined) expect(got.corrupt.length).toBe(want.corrupt);
    return;
  }
  if (input.length > 0 && got.error === undefined) expect(got.corrupt.length).toBeGreaterThan(0);
}

export const storeNdjsonTarget: FuzzTarget = { name: 'store-ndjson', ext: 'ndjson', check: checkNdjsonSegment };
export const storeGzipTarget: FuzzTarget = { name: 'store-gzip', ext: 'gz', check: checkGzipSegment };

const goodLine = fc
  .record({ id: fc.string({ minLength: 1, maxLength: 6 }), protocol: fc.constantFrom('http', 'pg'), direction: fc.constantFrom('inbound', 'outbound') })
  .map(({ id, protocol, direction }) => JSON.stringify({ v: 1, id, protocol, direction, [protocol]: {} }));
const badLine = fc.oneof(
  fc.string({ maxLength: 20 }).map((s) => s.replaceAll('\n', ' ')),
  fc.jsonValue({ maxDepth: 1 }).map((v) => JSON.stringify(v)),
  fc.constantFrom('{"v":1}', '{"v":1,"id":"a","protocol":"ftp","direction":"inbound"}', '{"v":2,"id":"a"}', '{"v":1.5,"id":"a","protocol":"http","http":{},"direction":"inbound"}', '   ', '\r'),
);
const lineArb = fc.oneof({ weight: 3, arbitrary: goodLine }, { weight: 1, arbitrary: badLine });

/** NDJSON text, perhaps cut anywhere (a crash mid-line). */
export const ndjsonArb = fc.tuple(fc.array(lineArb, { maxLength: 8 }), fc.option(fc.nat())).map(([lines, cut]) => {
  const buf = Buffer.from(lines.map((l) => `${l}\n`).join(''), 'utf8');
  return cut === null ? buf : buf.subarray(0, cut % (buf.length + 1));
});

/** gzip members of a few lines each, as the writer flushes them, then cut or damaged. */
export const gzipArb = fc
  .tuple(fc.array(fc.array(lineArb, { minLength: 1, maxLength: 3 }), { maxLength: 4 }), fc.option(fc.nat()), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 2 }))
  .map(([members, cut, flips]) => {
    const buf = Buffer.concat(members.map((ls) => gzipSync(ls.map((l) => `${l}\n`).join(''))));
    for (const [at, v] of flips) if (buf.length > 0) buf[at % buf.length] = v;
    return cut === null ? buf : buf.subarray(0, cut % (buf.length + 1));
  });
