import { describe, expect, it } from 'vitest';
import zlib from 'node:zlib';
import {
  contentEncodingOf,
  contentEncodingOfRaw,
  decodeContent,
  encodeContent,
  hasZstd,
  MAX_STACKED_CODINGS,
  parseCodings,
  readableBody,
} from '../../../src/core/content-coding.js';
import { BOMB_INFLATED_BYTES, brotliBomb, deflateBomb, gzipBomb, memorySnapshot } from '../../helpers/compression-bombs.js';

const doc = Buffer.from(JSON.stringify({ id: 7, items: Array.from({ length: 50 }, (_, i) => ({ sku: `s-${i}`, qty: i })) }));
const CAP = 1024 * 1024;
const zstd = zlib as unknown as { zstdCompressSync?: (b: Buffer) => Buffer };

describe('content codings', () => {
  it.each([
    ['gzip', zlib.gzipSync(doc)],
    ['x-gzip', zlib.gzipSync(doc)],
    ['GZIP', zlib.gzipSync(doc)],
    ['deflate', zlib.deflateSync(doc)],
    ['deflate', zlib.deflateRawSync(doc)],
    ['br', zlib.brotliCompressSync(doc)],
  ])('decodes %s', (coding, encoded) => {
    const d = decodeContent(encoded, coding, CAP);
    expect(d.isDecoded).toBe(true);
    expect(d.isDecoded && d.body.equals(doc)).toBe(true);
  });

  it('decodes stacked codings last applied first, whether listed in one field or in several', () => {
    const stacked = zlib.brotliCompressSync(zlib.gzipSync(doc));
    const one = decodeContent(stacked, 'gzip, br', CAP);
    expect(one).toMatchObject({ isDecoded: true, codings: ['gzip', 'br'] });
    expect(one.isDecoded && one.body.equals(doc)).toBe(true);
    const value = contentEncodingOf([['Content-Encoding', 'gzip'], ['content-type', 'application/json'], ['content-encoding', 'br']]);
    expect(value).toBe('gzip, br');
    const two = decodeContent(stacked, value, CAP);
    expect(two.isDecoded && two.body.equals(doc)).toBe(true);
    // applied the other way round it does not decode: order matters
    expect(decodeContent(stacked, 'br, gzip', CAP)).toMatchObject({ isDecoded: false, reason: 'corrupt' });
  });

  it('re-encodes in the same codings so the body decodes to what was encoded', () => {
    for (const codings of [['gzip'], ['deflate'], ['br'], ['gzip', 'br']]) {
      const back = decodeContent(encodeContent(doc, codings), codings.join(', '), CAP);
      expect(back.isDecoded && back.body.equals(doc)).toBe(true);
    }
  });

  it('finds no coding to undo in an absent, empty or identity Content-Encoding, and passes empty bodies through', () => {
    expect(contentEncodingOf([['content-type', 'application/json']])).toBeUndefined();
    expect(contentEncodingOf([['Content-Encoding', 'identity']])).toBeUndefined();
    expect(contentEncodingOf([['Content-Encoding', ' ']])).toBeUndefined();
    expect(contentEncodingOfRaw(['Content-Encoding', 'br', 'Content-Length', '9'])).toBe('br');
    expect(contentEncodingOfRaw(['Content-Length', '9'])).toBeUndefined();
    expect(parseCodings('identity, X-Gzip ,br')).toEqual(['gzip', 'br']);
    const empty = decodeContent(Buffer.alloc(0), 'gzip', CAP);
    expect(empty).toMatchObject({ isDecoded: true });
    expect(readableBody(doc, [['content-type', 'application/json']], CAP)).toEqual({ body: doc, decoding: undefined });
  });

  it('leaves an unknown coding opaque with a reason that names it', () => {
    const d = decodeContent(doc, 'compress', CAP);
    expect(d).toMatchObject({ isDecoded: false, reason: 'unknown_coding', codings: ['compress'] });
    expect(d.isDecoded === false && d.message).toContain('"compress"');
    // one unknown coding in a stack leaves the whole body opaque, before any work is done
    expect(decodeContent(zlib.gzipSync(doc), 'gzip, sdch', CAP)).toMatchObject({ isDecoded: false, reason: 'unknown_coding' });
    const many = Array.from({ length: MAX_STACKED_CODINGS + 1 }, () => 'gzip').join(', ');
    expect(decodeContent(doc, many, CAP)).toMatchObject({ isDecoded: false, reason: 'unknown_coding' });
  });

  it('decodes zstd where the runtime has it, and says it has not otherwise', () => {
    if (hasZstd) {
      const encoded = (zstd.zstdCompressSync as (b: Buffer) => Buffer)(doc);
      const d = decodeContent(encoded, 'zstd', CAP);
      expect(d.isDecoded && d.body.equals(doc)).toBe(true);
    } else {
      const d = decodeContent(doc, 'zstd', CAP);
      expect(d).toMatchObject({ isDecoded: false, reason: 'unknown_coding' });
      expect(d.isDecoded === false && d.message).toContain('no zstd');
    }
  });

  it('reports corrupt and cut-short bodies as corrupt, without throwing', () => {
    const gz = zlib.gzipSync(doc);
    for (const [coding, body] of [
      ['gzip', Buffer.from('this is not gzip')],
      ['gzip', gz.subarray(0, gz.length - 20)],
      ['deflate', Buffer.from('nor is this deflate')],
      ['br', Buffer.from('garbage for brotli')],
    ] as const) {
      const d = decodeContent(body, coding, CAP);
      expect(d).toMatchObject({ isDecoded: false, reason: 'corrupt' });
      expect(d.isDecoded === false && d.message).toContain(`${coding} body does not decode`);
    }
  });

  it('accepts a body that decodes to exactly the cap and cuts one byte more', () => {
    const exact = Buffer.alloc(4096, 'a');
    expect(decodeContent(zlib.gzipSync(exact), 'gzip', 4096)).toMatchObject({ isDecoded: true });
    expect(decodeContent(zlib.gzipSync(Buffer.alloc(4097, 'a')), 'gzip', 4096)).toMatchObject({ isDecoded: false, reason: 'over_limit' });
  });

  it('cuts 1 GiB bombs of every coding at the cap without expanding them in memory', async () => {
    const bombs: Array<[string, Buffer]> = [
      ['gzip', gzipBomb()],
      ['br', await brotliBomb()],
      ['deflate', await deflateBomb()],
    ];
    for (const [coding, bomb] of bombs) {
      expect(bomb.length).toBeLessThan(BOMB_INFLATED_BYTES / 500);
      const before = memorySnapshot();
      const d = decodeContent(bomb, coding, CAP);
      const after = memorySnapshot();
      expect(d).toMatchObject({ isDecoded: false, reason: 'over_limit' });
      expect(d.isDecoded === false && d.message).toContain(`past the decode cap of ${CAP} bytes`);
      // the output held is the cap, not the gigabyte the bomb inflates to
      expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(64 * 1024 * 1024);
      expect(after.rss - before.rss).toBeLessThan(128 * 1024 * 1024);
    }
  }, 60_000);
});
