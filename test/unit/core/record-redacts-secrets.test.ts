import { describe, expect, it } from 'vitest';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRedactor, resolveRedactKey, REDACTED_PREFIX } from '../../../src/core/redact.js';

const kinds: string[] = [];
const r = createRedactor({ key: Buffer.from('k1'), jsonPaths: ['$.card.number', '$..password'], queryParams: ['sig'], onRedact: (k) => kinds.push(k) });

describe('redaction', () => {
  it('replaces credential headers with stable HMAC placeholders, keeping the scheme word', () => {
    const out = r.headers([
      ['Authorization', 'Bearer abc.def'],
      ['X-Api-Key', 'k-123'],
      ['Content-Type', 'application/json'],
    ]);
    expect(out[0]?.[1]).toMatch(/^Bearer redacted:hmac:[0-9a-f]{16}$/);
    expect(out[1]?.[1]).toMatch(/^redacted:hmac:[0-9a-f]{16}$/);
    expect(out[2]).toEqual(['Content-Type', 'application/json']);
    // stable: same secret, same placeholder; different secret, different placeholder
    expect(r.headers([['authorization', 'Bearer abc.def']])[0]?.[1]).toBe(out[0]?.[1]);
    expect(r.headers([['authorization', 'Bearer other']])[0]?.[1]).not.toBe(out[0]?.[1]);
    // a different key gives different placeholders
    const r2 = createRedactor({ key: Buffer.from('k2') });
    expect(r2.headers([['Authorization', 'Bearer abc.def']])[0]?.[1]).not.toBe(out[0]?.[1]);
  });

  it('keeps cookie names and Set-Cookie attributes, hides the values', () => {
    const out = r.headers([
      ['Cookie', 'sid=s3cr3t; theme=dark'],
      ['Set-Cookie', 'sid=s3cr3t; Path=/; HttpOnly'],
    ]);
    expect(out[0]?.[1]).toMatch(/^sid=redacted:hmac:[0-9a-f]{16}; theme=redacted:hmac:[0-9a-f]{16}$/);
    expect(out[1]?.[1]).toMatch(/^sid=redacted:hmac:[0-9a-f]{16}; Path=\/; HttpOnly$/);
    expect(out[0]?.[1]).not.toContain('s3cr3t');
  });

  it('redacts URL userinfo and credential query parameters', () => {
    expect(r.url('http://user:pw@host/x?a=1')).toMatch(/^http:\/\/user:redacted(%3A|:)hmac/);
    const u = r.url('/pay?access_token=tok&x=1&sig=abc');
    expect(u).not.toContain('tok&');
    expect(u).toContain('x=1');
    expect(u).toMatch(/access_token=redacted%3Ahmac%3A[0-9a-f]{16}/);
    expect(u).toMatch(/sig=redacted%3Ahmac%3A[0-9a-f]{16}/);
    expect(r.url('/plain?x=1')).toBe('/plain?x=1');
  });

  it('redacts configured JSON paths in bodies', () => {
    const out = r.jsonBody(Buffer.from(JSON.stringify({ card: { number: '4111' }, user: { password: 'pw', name: 'n' } })));
    const doc = JSON.parse(out?.toString() ?? '{}');
    expect(doc.card.number.startsWith(REDACTED_PREFIX)).toBe(true);
    expect(doc.user.password.startsWith(REDACTED_PREFIX)).toBe(true);
    expect(doc.user.name).toBe('n');
    expect(r.jsonBody(Buffer.from('not json'))).toBeUndefined();
    expect(kinds).toEqual(expect.arrayContaining(['header', 'cookie', 'url_userinfo', 'query_param', 'json_path']));
  });

  it('refuses a key file inside the traffic directory, reads one outside, generates one otherwise', async () => {
    const base = await mkdtemp(join(tmpdir(), 'doppel-key-'));
    try {
      const traffic = join(base, 'traffic');
      await mkdir(traffic);
      await writeFile(join(traffic, 'key'), 'inside');
      await writeFile(join(base, 'key'), 'outside\n');
      await expect(resolveRedactKey({ envKey: undefined, keyFile: join(traffic, 'key'), trafficDirs: [traffic], cwd: base })).rejects.toMatchObject({
        code: 'DOPPEL_USAGE',
        exitCode: 2,
      });
      const k = await resolveRedactKey({ envKey: undefined, keyFile: 'key', trafficDirs: [traffic], cwd: base });
      expect(k).toEqual({ key: Buffer.from('outside'), source: 'file' });
      expect((await resolveRedactKey({ envKey: 'e', keyFile: 'key', trafficDirs: [traffic], cwd: base })).source).toBe('env');
      expect((await resolveRedactKey({ envKey: undefined, keyFile: undefined, trafficDirs: [traffic], cwd: base })).source).toBe('generated');
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });
});
