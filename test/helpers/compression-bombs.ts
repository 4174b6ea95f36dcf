/**
 * Decompression bombs for the bounded-decoding tests: small bodies that
 * inflate to 1 GiB. Built by streaming (or, for gzip, by repeating one member:
 * a gzip stream may hold many, RFC 1952 §2.2), never by holding 1 GiB.
 */
import zlib from 'node:zlib';

export const BOMB_INFLATED_BYTES = 1024 * 1024 * 1024;
const MIB = Buffer.alloc(1024 * 1024);

/** About 1 MB of gzip that inflates to 1 GiB of zeros: 1024 members of 1 MiB each. */
export function gzipBomb(): Buffer {
  const member = zlib.gzipSync(MIB, { level: 9 });
  return Buffer.concat(Array.from({ length: BOMB_INFLATED_BYTES / MIB.length }, () => member));
}

/** A stream compressor fed 1 GiB of zeros one MiB at a time. */
async function streamBomb(compressor: zlib.Gzip | zlib.Deflate | zlib.BrotliCompress): Promise<Buffer> {
  const chunks: Buffer[] = [];
  compressor.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((resolve, reject) => {
    compressor.on('end', resolve);
    compressor.on('error', reject);
  });
  for (let i = 0; i < BOMB_INFLATED_BYTES / MIB.length; i++) {
    if (!compressor.write(MIB)) await new Promise((r) => compressor.once('drain', r));
  }
  compressor.end();
  await ended;
  return Buffer.concat(chunks);
}

/** About 190 KB of brotli that inflates to 1 GiB. */
export function brotliBomb(): Promise<Buffer> {
  return streamBomb(zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1 } }));
}

/** About 1 MB of zlib-format deflate that inflates to 1 GiB. */
export function deflateBomb(): Promise<Buffer> {
  return streamBomb(zlib.createDeflate({ level: 9 }));
}

/** The process memory figures a growth check compares: resident set, Buffer memory, V8 heap. */
export function memorySnapshot(): { rss: number; arrayBuffers: number; heapUsed: number } {
  const m = process.memoryUsage();
  return { rss: m.rss, arrayBuffers: m.arrayBuffers, heapUsed: m.heapUsed };
}
