import { describe, expect, it } from 'vitest';
import { parseWireMockStubs } from '../../../src/mock/wiremock-stubs.js';
import { buildKeyOptions, exactKey, parseRequest, shapeKey } from '../../../src/mock/http-request-key.js';
import { stubMatches } from '../../../src/mock/http-stubs.js';

const req = (method: string, url: string, body = '', headers: string[] = []) => parseRequest({ method, url, headers, body: Buffer.from(body) });

describe('stub files', () => {
  it('reads a mapping list and matches on method, path pattern, query and JSON body', () => {
    const [s] = parseWireMockStubs(
      JSON.stringify({ mappings: [{ priority: 2, request: { method: 'POST', urlPathPattern: '/a/[0-9]+', queryParameters: { x: { equalTo: '1' } }, bodyPatterns: [{ equalToJson: '{"k":[1,2]}', ignoreArrayOrder: true }] }, response: { status: 201 } }] }),
      'stubs.json',
    );
    expect(s?.priority).toBe(2);
    expect(stubMatches(s!, req('POST', '/a/12?x=1', '{"k":[2,1]}'), '/a/12?x=1')).toBe(true);
    expect(stubMatches(s!, req('POST', '/a/12?x=2', '{"k":[2,1]}'), '/a/12?x=2')).toBe(false);
    expect(stubMatches(s!, req('POST', '/a/b?x=1', '{"k":[2,1]}'), '/a/b?x=1')).toBe(false);
    expect(stubMatches(s!, req('GET', '/a/12?x=1', '{"k":[2,1]}'), '/a/12?x=1')).toBe(false);
  });

  it('refuses bad stub files naming the file, mapping and key', () => {
    expect(() => parseWireMockStubs('{not json', 's.json')).toThrow(/s\.json: not valid JSON/);
    expect(() => parseWireMockStubs(JSON.stringify([{ request: { urlPath: '/x', cookies: {} }, response: {} }]), 's.json')).toThrow(/s\.json#0\.request\.cookies: not supported/);
    expect(() => parseWireMockStubs(JSON.stringify({ request: {}, response: { fault: 'BOOM' } }), 's.json')).toThrow(/response\.fault: expected one of/);
    expect(() => parseWireMockStubs(JSON.stringify({ request: { urlPathPattern: '(' }, response: {} }), 's.json')).toThrow(/urlPathPattern: invalid regular expression/);
    expect(() => parseWireMockStubs(JSON.stringify({ request: {}, response: { status: 99 } }), 's.json')).toThrow(/status: expected an HTTP status/);
  });
});

describe('mock request keys', () => {
  const opts = buildKeyOptions({ ignore: ['$.at'], redactedQueryParams: ['token'] });
  it('treats the query as a multiset', () => {
    expect(exactKey(req('GET', '/p?b=2&a=1&a=1'), opts)).toBe(exactKey(req('GET', '/p?a=1&b=2&a=1'), opts));
    expect(exactKey(req('GET', '/p?a=1&b=2'), opts)).not.toBe(exactKey(req('GET', '/p?a=1&a=1&b=2'), opts));
  });
  it('compares JSON structurally, blanks ignored paths, and lets value classes match in shape keys', () => {
    expect(exactKey(req('POST', '/c', '{"a":1,"b":2,"at":"x"}'), opts)).toBe(exactKey(req('POST', '/c', '{ "b": 2, "a": 1, "at": "y" }'), opts));
    const k1 = '{"key":"6f1c2b7a-0d4e-4a53-9b8f-2f6c1e0a9d11"}';
    const k2 = '{"key":"0a0b0c0d-1111-4222-8333-444455556666"}';
    expect(exactKey(req('POST', '/c', k1), opts)).not.toBe(exactKey(req('POST', '/c', k2), opts));
    expect(shapeKey(req('POST', '/c', k1), opts)).toBe(shapeKey(req('POST', '/c', k2), opts));
    expect(shapeKey(req('GET', '/u/6f1c2b7a-0d4e-4a53-9b8f-2f6c1e0a9d11'), opts)).toBe(shapeKey(req('GET', '/u/0a0b0c0d-1111-4222-8333-444455556666'), opts));
  });
  it('treats redacted query values as wildcards', () => {
    expect(exactKey(req('GET', '/p?token=live-secret'), opts)).toBe(exactKey(req('GET', '/p?token=redacted%3Ahmac%3A0011223344556677'), opts));
  });
  it('compares non-JSON bodies by bytes', () => {
    expect(exactKey(req('PUT', '/b', 'abc'), opts)).not.toBe(exactKey(req('PUT', '/b', 'abd'), opts));
  });
});
