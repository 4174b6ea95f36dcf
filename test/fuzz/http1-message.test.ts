import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseHttpRequest } from '../../src/formats/http1-message.js';
import { fuzz } from './fuzz-run.js';
import { checkHttpMessage, httpBytesArb, requestArb, writeRequest } from './targets/http1-message.js';

describe('HTTP/1 message parser under fuzzing', () => {
  it('reads back method, target, header values and body of any well-formed request', async () => {
    await fuzz(
      'http1-message',
      requestArb,
      (r) => {
        const parsed = parseHttpRequest(writeRequest(r));
        expect(parsed.method).toBe(r.method);
        expect(parsed.url).toBe(r.path);
        expect(parsed.headers.slice(0, r.headers.length)).toEqual(r.headers);
        expect(parsed.body.equals(r.body)).toBe(true);
      },
      1000,
    );
  });

  it('fails only with its own error on damaged messages, and what it reads writes back', async () => {
    await fuzz('http1-message', httpBytesArb, checkHttpMessage, 2000);
    const raw = fc.uint8Array({ maxLength: 120 }).map((a) => Buffer.from(a));
    await fuzz('http1-message', raw, checkHttpMessage, 500);
  });
});
