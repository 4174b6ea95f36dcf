import { describe, expect, it } from 'vitest';
import zlib from 'node:zlib';
import { createRedactor, redactBody, REDACTED_PREFIX } from '../../../src/core/redact.js';
import { decodeContent } from '../../../src/core/content-coding.js';
import { createTransformer, parseTransformRules } from '../../../src/formats/transform-rules.js';
import type { HttpExchange } from '../../../src/core/exchange.js';
import { gzipBomb } from '../../helpers/compression-bombs.js';

const secretDoc = { card: { number: '4111111111111111' }, amount: 12 };
const kinds: string[] = [];
const r = createRedactor({ key: Buffer.from('k1'), jsonPaths: ['$.card.number'], onRedact: (k) => kinds.push(k) });
const CAP = 1024 * 1024;

function decodedJson(body: Buffer, coding: string): unknown {
  const d = decodeContent(body, coding, CAP);
  if (!d.isDecoded) throw new Error(d.message);
  return JSON.parse(d.body.toString('utf8'));
}

describe('redaction of compressed bodies', () => {
  it.each([
    ['gzip', (b: Buffer) => zlib.gzipSync(b)],
    ['deflate', (b: Buffer) => zlib.deflateSync(b)],
    ['br', (b: Buffer) => zlib.brotliCompressSync(b)],
    ['gzip, br', (b: Buffer) => zlib.brotliCompressSync(zlib.gzipSync(b))],
  ])('decodes, redacts and re-encodes a %s body in the same coding', (coding, encode) => {
    const body = encode(Buffer.from(JSON.stringify(secretDoc)));
    const out = redactBody(r, body, coding, CAP);
    expect(out.undecoded).toBeUndefined();
    expect(out.body.includes('4111111111111111')).toBe(false);
    const doc = decodedJson(out.body, coding) as typeof secretDoc;
    expect(doc.card.number.startsWith(REDACTED_PREFIX)).toBe(true);
    expect(doc.amount).toBe(12);
    // the placeholder is the one an uncompressed body gets: mocks still pair the calls
    const plain = JSON.parse(redactBody(r, Buffer.from(JSON.stringify(secretDoc)), undefined, CAP).body.toString('utf8')) as typeof secretDoc;
    expect(doc.card.number).toBe(plain.card.number);
  });

  it('returns the bytes as sent when nothing is to be redacted', () => {
    const body = zlib.gzipSync(Buffer.from(JSON.stringify({ amount: 1 })));
    expect(redactBody(r, body, 'gzip', CAP).body).toBe(body);
    const noPaths = createRedactor({ key: Buffer.from('k1') });
    const secret = zlib.gzipSync(Buffer.from(JSON.stringify(secretDoc)));
    expect(redactBody(noPaths, secret, 'gzip', CAP).body).toBe(secret);
  });

  it('keeps a body that does not decode as it was and says why', () => {
    const bomb = gzipBomb();
    const out = redactBody(r, bomb, 'gzip', CAP);
    expect(out.body).toBe(bomb);
    expect(out.undecoded).toMatchObject({ reason: 'over_limit' });
    expect(redactBody(r, Buffer.from('nope'), 'gzip', CAP).undecoded).toMatchObject({ reason: 'corrupt' });
  });

  it('transform rules redact inside compressed bodies and leave their coding in place', () => {
    const rules = parseTransformRules('redact_json_paths: ["$.card.number"]\nremove_headers: { response: [Content-Encoding] }\n', 'rules.yaml');
    const undecoded: string[] = [];
    const t = createTransformer(rules, Buffer.from('k1'), { onUndecoded: (u) => undecoded.push(u.reason) });
    const gz = zlib.gzipSync(Buffer.from(JSON.stringify(secretDoc)));
    const ex: HttpExchange = {
      v: 1,
      id: '01JTEST0000000000000000000',
      session: 's',
      parent: null,
      direction: 'outbound',
      service: 'payments',
      protocol: 'http',
      startedAt: '2026-01-01T00:00:00.000Z',
      durationMs: 1,
      tags: {},
      http: {
        request: { method: 'POST', url: '/pay', headers: [['content-type', 'application/json'], ['content-encoding', 'gzip']], body: gz.toString('base64'), bodyEncoding: 'base64', truncated: false },
        response: { status: 200, headers: [['content-type', 'application/json'], ['content-encoding', 'br']], body: Buffer.from('broken').toString('base64'), bodyEncoding: 'base64', truncated: false },
      },
    };
    const out = t.apply(ex) as HttpExchange;
    const req = out.http.request;
    expect(req.headers).toEqual([['content-type', 'application/json'], ['content-encoding', 'gzip']]);
    const doc = decodedJson(Buffer.from(req.body, 'base64'), 'gzip') as typeof secretDoc;
    expect(doc.card.number.startsWith(REDACTED_PREFIX)).toBe(true);
    // the response's br body is corrupt: left as it was, and reported; the header rule still applies
    expect(out.http.response?.body).toBe(ex.http.response?.body);
    expect(out.http.response?.headers).toEqual([['content-type', 'application/json']]);
    expect(undecoded).toEqual(['corrupt']);
  });
});
