import { describe, expect, it } from 'vitest';
import { concreteRequest } from '../../../src/formats/wiremock-import.js';
import { orderScenario, type ScenarioMember } from '../../../src/formats/wiremock-scenarios.js';
import { parseWireMockStubs, readWireMockMapping } from '../../../src/mock/wiremock-stubs.js';
import { parseRequest } from '../../../src/mock/http-request-key.js';
import { stubMatches, type StubDefinition } from '../../../src/mock/http-stubs.js';

const stubOf = (request: Record<string, unknown>, response: Record<string, unknown> = { status: 200 }): StubDefinition => {
  const r = readWireMockMapping({ request, response }, 0);
  if ('problem' in r) throw new Error(r.problem);
  return r.stub;
};
const req = (method: string, url: string, body: string | Buffer = '', headers: string[] = []) =>
  parseRequest({ method, url, headers, body: typeof body === 'string' ? Buffer.from(body) : body });
const matches = (s: StubDefinition, method: string, url: string, body: string | Buffer = '', headers: string[] = []) => stubMatches(s, req(method, url, body, headers), url);

describe('a WireMock mapping that names one request becomes an exchange', () => {
  it('takes url as is, and urlPath with equalTo / hasExactly query parameters as path and query', () => {
    expect(concreteRequest(stubOf({ method: 'GET', url: '/search?q=red+shoes&page=2' }))).toMatchObject({ method: 'GET', url: '/search?q=red+shoes&page=2' });
    // what WireMock 3's recorder writes for a query string
    const recorded = stubOf({ method: 'GET', urlPath: '/search', queryParameters: { q: { hasExactly: [{ equalTo: 'red shoes' }] }, tag: { hasExactly: [{ equalTo: 'a' }, { equalTo: 'b' }] } } });
    expect(concreteRequest(recorded)).toMatchObject({ url: '/search?q=red+shoes&tag=a&tag=b' });
    expect(concreteRequest(stubOf({ method: 'GET', urlPath: '/p', queryParameters: { a: { equalTo: '1' }, gone: { absent: true } } }))).toMatchObject({ url: '/p?a=1' });
  });

  it('turns equalTo headers into request fields and one body pattern into the request body', () => {
    const json = concreteRequest(stubOf({ method: 'POST', url: '/o', headers: { 'X-Tenant': { equalTo: 't1' } }, bodyPatterns: [{ equalToJson: '{"b":[1,2],"a":1}', ignoreArrayOrder: true, ignoreExtraElements: true }] }));
    expect(json).toMatchObject({ headers: [['x-tenant', 't1']] });
    expect(typeof json !== 'string' && JSON.parse(json.body.toString())).toEqual({ b: [1, 2], a: 1 });
    const text = concreteRequest(stubOf({ method: 'PUT', url: '/t', bodyPatterns: [{ equalTo: 'hello' }] }));
    expect(typeof text !== 'string' && text.body.toString()).toBe('hello');
    const bin = concreteRequest(stubOf({ method: 'PUT', url: '/b', bodyPatterns: [{ binaryEqualTo: Buffer.from([0, 255]).toString('base64') }] }));
    expect(typeof bin !== 'string' && bin.body).toEqual(Buffer.from([0, 255]));
  });

  it('says why a pattern is not one request', () => {
    const why = (request: Record<string, unknown>) => concreteRequest(stubOf(request));
    expect(why({ method: 'ANY', url: '/x' })).toMatch(/method ANY/);
    expect(why({ method: 'GET' })).toMatch(/matches any URL/);
    expect(why({ method: 'GET', urlPattern: '/x/.*' })).toBe('request.urlPattern is a pattern');
    expect(why({ method: 'GET', urlPathPattern: '/x/[0-9]+' })).toBe('request.urlPathPattern is a pattern');
    expect(why({ method: 'GET', urlPath: '/x', queryParameters: { q: { matches: 'a.*' } } })).toBe('request.queryParameters.q uses matches');
    expect(why({ method: 'GET', urlPath: '/x', queryParameters: { q: { includes: [{ equalTo: 'a' }] } } })).toBe('request.queryParameters.q uses includes');
    expect(why({ method: 'GET', urlPath: '/x', queryParameters: { q: { equalTo: 'A', caseInsensitive: true } } })).toMatch(/caseInsensitive/);
    expect(why({ method: 'GET', url: '/x', headers: { Accept: { contains: 'json' } } })).toBe('request.headers.accept uses contains');
    expect(why({ method: 'POST', url: '/x', bodyPatterns: [{ contains: 'ERROR' }] })).toBe('request.bodyPatterns uses contains');
    expect(why({ method: 'POST', url: '/x', bodyPatterns: [{ matchesJsonPath: '$.a' }] })).toBe('request.bodyPatterns uses matchesJsonPath');
    expect(why({ method: 'POST', url: '/x', bodyPatterns: [{ equalTo: 'a' }, { equalTo: 'b' }] })).toBe('more than one body pattern');
  });
});

describe('the stub engine evaluates the patterns an import keeps as stubs', () => {
  it('matchesJsonPath: a path that selects something, or a value matcher on what it selects', () => {
    const has = stubOf({ method: 'POST', urlPath: '/e', bodyPatterns: [{ matchesJsonPath: '$.items[*].sku' }] });
    expect(matches(has, 'POST', '/e', '{"items":[{"sku":"a"}]}')).toBe(true);
    expect(matches(has, 'POST', '/e', '{"items":[]}')).toBe(false);
    expect(matches(has, 'POST', '/e', '{"items":[{"sku":null}]}')).toBe(false);
    expect(matches(has, 'POST', '/e', 'not json')).toBe(false);
    const value = stubOf({ method: 'POST', urlPath: '/e', bodyPatterns: [{ matchesJsonPath: { expression: '$..amount', equalTo: '5' } }] });
    expect(matches(value, 'POST', '/e', '{"order":{"amount":5}}')).toBe(true);
    expect(matches(value, 'POST', '/e', '{"order":{"amount":6}}')).toBe(false);
    const absent = stubOf({ method: 'POST', urlPath: '/e', bodyPatterns: [{ matchesJsonPath: { expression: '$.debug', absent: true } }] });
    expect(matches(absent, 'POST', '/e', '{"a":1}')).toBe(true);
    expect(matches(absent, 'POST', '/e', '{"debug":true}')).toBe(false);
  });

  it('hasExactly and includes look at every value of a repeated query parameter or header', () => {
    const exactly = stubOf({ method: 'GET', urlPath: '/s', queryParameters: { tag: { hasExactly: [{ equalTo: 'a' }, { equalTo: 'b' }] } } });
    expect(matches(exactly, 'GET', '/s?tag=b&tag=a')).toBe(true);
    expect(matches(exactly, 'GET', '/s?tag=a')).toBe(false);
    expect(matches(exactly, 'GET', '/s?tag=a&tag=b&tag=c')).toBe(false);
    const includes = stubOf({ method: 'GET', urlPath: '/s', headers: { 'X-Role': { includes: [{ matches: 'adm.*' }] } } });
    expect(matches(includes, 'GET', '/s', '', ['X-Role', 'user', 'x-role', 'admin'])).toBe(true);
    expect(matches(includes, 'GET', '/s', '', ['X-Role', 'user'])).toBe(false);
  });

  it('binaryEqualTo compares bytes', () => {
    const s = stubOf({ method: 'PUT', urlPath: '/b', bodyPatterns: [{ binaryEqualTo: Buffer.from([1, 2, 255]).toString('base64') }] });
    expect(matches(s, 'PUT', '/b', Buffer.from([1, 2, 255]))).toBe(true);
    expect(matches(s, 'PUT', '/b', Buffer.from([1, 2]))).toBe(false);
  });

  it('refuses what it cannot evaluate, naming the key', () => {
    expect(readWireMockMapping({ request: { bodyPatterns: [{ matchesJsonPath: "$.things[?(@.name == 'x')]" }] }, response: {} }, 0)).toMatchObject({
      problem: expect.stringMatching(/^request\.bodyPatterns\[0\]\.matchesJsonPath: .*filter expressions and functions are not supported/) as unknown,
    });
    expect(readWireMockMapping({ request: { queryParameters: { q: { hasExactly: [] } } }, response: {} }, 0)).toMatchObject({ problem: expect.stringMatching(/^request\.queryParameters\.q\.hasExactly: expected a list/) as unknown });
    expect(readWireMockMapping({ request: {}, response: { transformers: ['x'] } }, 0)).toMatchObject({ problem: expect.stringMatching(/^response\.transformers: not supported/) as unknown });
    expect(readWireMockMapping(42, 0)).toEqual({ problem: 'expected a mapping object with "request" and "response"' });
    expect(() => parseWireMockStubs(JSON.stringify({ request: { bodyPatterns: [{ binaryEqualTo: '@@' }] }, response: {} }), 's.json')).toThrow(/s\.json#0\.request\.bodyPatterns\[0\]\.binaryEqualTo: expected the body as a base64 string/);
  });
});

describe('scenarios become recorded order', () => {
  const m = (where: string, required: string | undefined, next: string | undefined, scenario = 'sc'): ScenarioMember<string> => ({ where, scenario, required, next, item: where });

  it("follows the recorder's chain from Started whatever order the files list it in", () => {
    const r = orderScenario([m('third', 'scenario-1-counter-3', undefined), m('second', 'scenario-1-counter-2', 'scenario-1-counter-3'), m('first', 'Started', 'scenario-1-counter-2')]);
    expect(r.ordered.map((x) => x.item)).toEqual(['first', 'second', 'third']);
    expect(r.skipped).toEqual([]);
  });

  it("puts a state's staying mappings before the one that moves on (WireMock's to-do example)", () => {
    const r = orderScenario([m('get-1', 'Started', undefined), m('post', 'Started', 'Item added'), m('get-2', 'Item added', undefined), m('any', undefined, undefined)]);
    expect(r.ordered.map((x) => x.item)).toEqual(['any', 'get-1', 'post', 'get-2']);
  });

  it('skips what one sequence cannot hold, saying why', () => {
    const r = orderScenario([m('a', 'Started', 'A'), m('b', 'Started', 'B'), m('lost', 'Nowhere', undefined), m('reset', undefined, 'A'), m('loop', 'A', 'Started')]);
    expect(r.ordered.map((x) => x.item)).toEqual(['a', 'loop']);
    expect(r.skipped).toEqual(
      expect.arrayContaining([
        { where: 'b', reason: 'scenario "sc": state "Started" also moves to "A"; recorded order follows one path, not "B"' },
        { where: 'lost', reason: 'scenario "sc": state "Nowhere" is never reached from "Started"' },
        { where: 'reset', reason: 'scenario "sc": moves to state "A" from any state, which recorded order cannot express' },
      ]),
    );
    expect(r.skipped).toHaveLength(3);
  });
});
