import { describe, expect, it } from 'vitest';
import zlib from 'node:zlib';
import { createComparator } from '../../../src/compare/comparator.js';
import { undecodedReasonOf, type ResponseSample } from '../../../src/compare/types.js';
import { compareConfig } from '../../helpers/compare-fixtures.js';
import { gzipBomb } from '../../helpers/compression-bombs.js';

const order = { id: 42, total: 19.99, requestId: 'r-1', items: [{ sku: 'a', qty: 1 }] };

function encoded(value: unknown, coding: string | undefined, encode: (b: Buffer) => Buffer = (b) => b): ResponseSample {
  const headers: Array<[string, string]> = [['content-type', 'application/json']];
  if (coding !== undefined) headers.push(['Content-Encoding', coding]);
  return { status: 200, headers, body: encode(Buffer.from(JSON.stringify(value))) };
}

const gz = (v: unknown) => encoded(v, 'gzip', (b) => zlib.gzipSync(b));
const br = (v: unknown) => encoded(v, 'br', (b) => zlib.brotliCompressSync(b));

describe('comparator on compressed bodies', () => {
  it('reports a field changed inside a gzip body at its JSON path', () => {
    const c = createComparator(compareConfig());
    const out = c.compare(gz(order), gz({ ...order, total: 21.5 }), 'GET /orders/:id');
    expect(out.isBodyMatch).toBe(false);
    expect(out.diffs).toEqual([{ path: '$.total', kind: 'changed', expected: 19.99, actual: 21.5 }]);
    expect(out.flags).toEqual([]);
  });

  it('lets an ignore rule absorb a changing id inside a br body', () => {
    const noRule = createComparator(compareConfig({ value_classes: false }));
    const other = { ...order, requestId: 'r-2' };
    expect(noRule.compare(br(order), br(other), 'GET /orders/:id').diffs.map((d) => d.path)).toEqual(['$.requestId']);
    const withRule = createComparator(compareConfig({ value_classes: false, ignore: ['$.requestId'] }));
    const out = withRule.compare(br(order), br(other), 'GET /orders/:id');
    expect(out.isMatch).toBe(true);
    expect(out.fields.ignored).toBe(1);
  });

  it('treats a difference of coding alone as a header matter, not a body mismatch', () => {
    const c = createComparator(compareConfig({ headers: ['content-type', 'content-encoding'] }));
    const out = c.compare(encoded(order, undefined), gz(order), 'GET /orders/:id');
    expect(out.isBodyMatch).toBe(true);
    expect(out.diffs).toEqual([{ path: 'header:content-encoding', kind: 'header', actual: 'gzip' }]);
    // gzip against deflate of the same JSON: the bodies match, and with default headers so does all
    const byDefault = createComparator(compareConfig());
    expect(byDefault.compare(gz(order), encoded(order, 'deflate', (b) => zlib.deflateSync(b)), 'GET /orders/:id').isMatch).toBe(true);
  });

  it('cuts a decompression bomb at the cap, flags it and compares the bytes received', () => {
    const c = createComparator(compareConfig({ max_body_bytes: '2mb' }));
    const bomb: ResponseSample = { status: 200, headers: [['content-type', 'application/json'], ['content-encoding', 'gzip']], body: gzipBomb() };
    const out = c.compare(gz(order), bomb, 'GET /orders/:id');
    expect(out.isBodyMatch).toBe(false);
    expect(out.flags).toEqual(['candidate-decode-over-limit']);
    expect(out.flags.map(undecodedReasonOf)).toEqual(['over_limit']);
    expect(out.diffs).toHaveLength(1);
    expect(out.diffs[0]).toMatchObject({ path: '$', kind: 'body-bytes', expected: JSON.stringify(order) });
    expect(String(out.diffs[0]?.actual)).toMatch(/^<\d+ bytes, Content-Encoding: gzip, not decoded: gzip body inflates past the decode cap of 2097152 bytes/);
  });

  it('keeps an unknown or corrupt coding opaque, says so in the diff, and matches equal bytes', () => {
    const c = createComparator(compareConfig());
    const opaque = (body: string, coding: string): ResponseSample => ({ status: 200, headers: [['content-type', 'application/json'], ['content-encoding', coding]], body: Buffer.from(body) });
    const same = c.compare(opaque('LZW...', 'compress'), opaque('LZW...', 'compress'), 'GET /x');
    expect(same.isMatch).toBe(true);
    expect(same.flags).toEqual(['baseline-decode-unknown-coding', 'candidate-decode-unknown-coding']);
    const corrupt = c.compare(gz(order), opaque('not gzip at all', 'gzip'), 'GET /x');
    expect(corrupt.isMatch).toBe(false);
    expect(corrupt.flags).toEqual(['candidate-decode-corrupt']);
    expect(String(corrupt.diffs[0]?.actual)).toContain('gzip body does not decode');
    expect(undecodedReasonOf('candidate-not-json')).toBeUndefined();
  });

  it('does not decode a body marked as already decoded', () => {
    const c = createComparator(compareConfig());
    const decoded: ResponseSample = { ...encoded(order, 'gzip'), isDecoded: true };
    expect(c.compare(decoded, gz(order), 'GET /orders/:id').isMatch).toBe(true);
  });
});
