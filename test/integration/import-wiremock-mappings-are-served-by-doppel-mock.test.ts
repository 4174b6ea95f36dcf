import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import type { HttpExchange } from '../../src/core/exchange.js';
import { runCli, startCli } from '../helpers/cli.js';
import { readAll, scratchDir } from '../helpers/formats.js';

const BIN = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 255]);

/** Hand-written mappings in the format WireMock documents (https://wiremock.org/docs/stubbing/, /docs/request-matching/). */
const mappings = {
  mappings: [
    // concrete: exchanges
    { request: { method: 'GET', url: '/accounts/7' }, response: { status: 200, jsonBody: { id: 7, owner: 'ann' } } },
    {
      request: {
        method: 'POST',
        urlPath: '/charges',
        queryParameters: { currency: { equalTo: 'EUR' } },
        bodyPatterns: [{ equalToJson: '{"amount":12,"tags":["a","b"]}', ignoreArrayOrder: true, ignoreExtraElements: true }],
      },
      response: { status: 201, headers: { 'X-Charge': ['c-1', 'c-2'] }, base64Body: BIN.toString('base64'), fixedDelayMilliseconds: 40 },
    },
    { request: { method: 'PUT', url: '/notes/1', bodyPatterns: [{ equalTo: 'remember the milk' }] }, response: { status: 204 } },
    { request: { method: 'GET', urlPath: '/search', queryParameters: { tag: { hasExactly: [{ equalTo: 'a' }, { equalTo: 'b' }] } } }, response: { body: 'tagged a and b' } },
    { request: { method: 'GET', url: '/report' }, response: { status: 200, bodyFileName: 'report.txt', headers: { 'Content-Type': 'text/plain' } } },
    { request: { method: 'GET', url: '/logo.png' }, response: { status: 200, bodyFileName: 'img/logo.png', headers: { 'Content-Type': 'image/png' } } },
    { request: { method: 'POST', url: '/xml', bodyPatterns: [{ equalToXml: '<a><b>1</b></a>' }] }, response: { status: 200, body: '<ok/>' } },
    // patterns: stubs
    { request: { method: 'GET', urlPattern: '/any/.*' }, response: { status: 200, body: 'any' } },
    { request: { method: 'GET', urlPathPattern: '/users/[0-9]+', queryParameters: { q: { matches: 'a.*' } } }, response: { status: 200, body: 'user by pattern' } },
    { request: { method: 'POST', urlPath: '/events', bodyPatterns: [{ matchesJsonPath: '$.type' }, { matchesJsonPath: { expression: '$.amount', equalTo: '5' } }] }, response: { status: 202, body: 'event' } },
    { request: { method: 'POST', urlPath: '/logs', bodyPatterns: [{ contains: 'ERROR' }] }, response: { status: 200, body: 'logged', fixedDelayMilliseconds: 1 } },
    { request: { method: 'GET', urlPath: '/tenant', headers: { 'X-Tenant': { matches: 't[0-9]+' } } }, response: { status: 200, body: 'tenant by pattern' } },
    { request: { method: 'GET', url: '/reset' }, response: { fault: 'CONNECTION_RESET_BY_PEER' } },
    // neither: skipped with the reason
    { request: { method: 'GET', url: '/x' }, response: { status: 200, transformers: ['t'] } },
    { request: { method: 'GET', url: '/missing-body' }, response: { status: 200, bodyFileName: 'nope.json' } },
    { request: { method: 'GET', url: '/escape' }, response: { status: 200, bodyFileName: '../secret.txt' } },
    { request: { method: 'GET', urlPattern: '/xml/.*', bodyPatterns: [{ equalToXml: '<a/>' }] }, response: { status: 200 } },
    { request: { method: 'POST', url: '/filter', bodyPatterns: [{ matchesJsonPath: "$.things[?(@.name == 'x')]" }] }, response: { status: 200 } },
    { scenarioName: 's', requiredScenarioState: 'Started', request: { method: 'GET', urlPattern: '/s/.*' }, response: { status: 200 } },
  ],
};

describe('doppel import wiremock', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('imports concrete mappings as exchanges and patterns as stubs, skips the rest with reasons, and doppel mock serves both', async () => {
    const s = await scratchDir();
    cleanups.push(s.cleanup);
    const root = join(s.dir, 'wm');
    await mkdir(join(root, 'mappings', 'nested'), { recursive: true });
    await mkdir(join(root, '__files', 'img'), { recursive: true });
    await writeFile(join(root, '__files', 'report.txt'), 'quarterly: fine\n');
    await writeFile(join(root, '__files', 'img', 'logo.png'), BIN);
    await writeFile(join(s.dir, 'secret.txt'), 'do not read');
    const file = join(root, 'mappings', 'nested', 'payments.json');
    await writeFile(file, JSON.stringify(mappings, null, 2));
    const broken = join(root, 'mappings', 'broken.json');
    await writeFile(broken, '{\n "request": {\n  "method": "GET",\n  "url": /x\n }\n}\n');

    const out = join(s.dir, 'traffic');
    const r = await runCli(['import', 'wiremock', root, '--out', out, '--service', 'payments']);
    expect(r.stderr).toContain(`skipped ${broken}:4: not valid JSON`);
    expect(r.stderr).toContain(`skipped ${file}#13: response.transformers: not supported`);
    expect(r.stderr).toMatch(new RegExp(`skipped ${file}#14: response.bodyFileName nope.json: cannot read .*ENOENT`));
    expect(r.stderr).toContain(`skipped ${file}#15: response.bodyFileName ../secret.txt: outside the __files folder`);
    expect(r.stderr).toContain(`skipped ${file}#16: request.urlPattern is a pattern; equalToXml is imported only on a mapping that names one request`);
    expect(r.stderr).toContain(`skipped ${file}#17: request.bodyPatterns[0].matchesJsonPath:`);
    expect(r.stderr).toContain(`skipped ${file}#18: scenario "s": request.urlPattern is a pattern; only a mapping that names one request with a response joins recorded order`);
    expect(r.stderr).toContain('imported 7 exchanges, skipped 7, 6 stubs');
    expect(r.stderr).toContain(`stubs (patterns) written to ${join(out, 'stubs', 'payments.json')}`);
    expect(r.code).toBe(0);

    const got = (await readAll(out)) as HttpExchange[];
    expect(got.map((e) => [e.direction, e.service, e.tags.source, e.http.request.method, e.http.request.url])).toEqual([
      ['outbound', 'payments', 'wiremock', 'GET', '/accounts/7'],
      ['outbound', 'payments', 'wiremock', 'POST', '/charges?currency=EUR'],
      ['outbound', 'payments', 'wiremock', 'PUT', '/notes/1'],
      ['outbound', 'payments', 'wiremock', 'GET', '/search?tag=a&tag=b'],
      ['outbound', 'payments', 'wiremock', 'GET', '/report'],
      ['outbound', 'payments', 'wiremock', 'GET', '/logo.png'],
      ['outbound', 'payments', 'wiremock', 'POST', '/xml'],
    ]);
    expect(got[1]?.durationMs).toBe(40);
    expect(got[5]?.http.response).toMatchObject({ bodyEncoding: 'base64', body: BIN.toString('base64') });
    const stubFile = JSON.parse(await readFile(join(out, 'stubs', 'payments.json'), 'utf8')) as { mappings: Array<Record<string, unknown>> };
    expect(stubFile.mappings.map((m) => (m.metadata as { doppel: { source: string } }).doppel.source)).toEqual([7, 8, 9, 10, 11, 12].map((i) => `${file}#${i}`));

    const mock = startCli(['mock', '--traffic', out, '--http-dep', 'payments=127.0.0.1:0', '--admin', '127.0.0.1:0', '--latency', 'none']);
    cleanups.push(() => mock.stop());
    const line = await mock.waitFor('http mock listening');
    expect(line).toMatchObject({ recorded: 7, stubs: 6 });
    const base = `http://${line.address as string}`;
    const call = async (method: string, path: string, body?: string, headers: Record<string, string> = {}) => {
      const res = await request(`${base}${path}`, { method: method as 'GET', headers, body: body ?? null });
      return { status: res.statusCode, headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) };
    };

    // exchanges
    const a = await call('GET', '/accounts/7');
    expect([a.status, JSON.parse(a.body.toString())]).toEqual([200, { id: 7, owner: 'ann' }]);
    const c = await call('POST', '/charges?currency=EUR', '{"tags":["a","b"],"amount":12}', { 'content-type': 'application/json' });
    expect([c.status, c.headers['x-charge'], c.body]).toEqual([201, ['c-1', 'c-2'], BIN]);
    expect((await call('PUT', '/notes/1', 'remember the milk')).status).toBe(204);
    expect((await call('GET', '/search?tag=b&tag=a')).body.toString()).toBe('tagged a and b');
    const rep = await call('GET', '/report');
    expect([rep.headers['content-type'], rep.body.toString()]).toEqual(['text/plain', 'quarterly: fine\n']);
    expect((await call('GET', '/logo.png')).body).toEqual(BIN);
    expect((await call('POST', '/xml', '<a><b>1</b></a>')).body.toString()).toBe('<ok/>');
    // stubs
    expect((await call('GET', '/any/thing/at/all')).body.toString()).toBe('any');
    expect((await call('GET', '/users/42?q=alpha')).body.toString()).toBe('user by pattern');
    expect((await call('GET', '/users/42?q=beta')).status).toBe(404);
    expect((await call('POST', '/events', '{"type":"paid","amount":5}')).status).toBe(202);
    expect((await call('POST', '/events', '{"type":"paid","amount":6}')).status).toBe(404);
    expect((await call('POST', '/logs', 'line 1\nERROR disk full\n')).body.toString()).toBe('logged');
    expect((await call('GET', '/tenant', undefined, { 'X-Tenant': 't42' })).body.toString()).toBe('tenant by pattern');
    expect((await call('GET', '/tenant', undefined, { 'X-Tenant': 'admin' })).status).toBe(404);
    await expect(call('GET', '/reset')).rejects.toMatchObject({ code: expect.stringMatching(/ECONNRESET|UND_ERR_SOCKET/) as unknown });
    expect(await mock.stop()).toBe(0);
  });

  it('turns a scenario into recorded order: GET, POST, GET answer as in WireMock', async () => {
    const s = await scratchDir();
    cleanups.push(s.cleanup);
    // WireMock's own to-do list example (https://wiremock.org/docs/stateful-behaviour/), files in an order of their own
    const todo = [
      { scenarioName: 'To do list', requiredScenarioState: 'Cancel newspaper item added', request: { method: 'GET', url: '/todo/items' }, response: { status: 200, body: '<items><item>Buy milk</item><item>Cancel newspaper subscription</item></items>' } },
      { scenarioName: 'To do list', requiredScenarioState: 'Started', request: { method: 'GET', url: '/todo/items' }, response: { status: 200, body: '<items><item>Buy milk</item></items>' } },
      {
        scenarioName: 'To do list',
        requiredScenarioState: 'Started',
        newScenarioState: 'Cancel newspaper item added',
        request: { method: 'POST', url: '/todo/items', bodyPatterns: [{ equalTo: 'Cancel newspaper subscription' }] },
        response: { status: 201 },
      },
      { scenarioName: 'To do list', requiredScenarioState: 'Never', request: { method: 'GET', url: '/todo/items' }, response: { status: 500 } },
    ];
    await mkdir(join(s.dir, 'mappings'));
    for (const [i, m] of todo.entries()) await writeFile(join(s.dir, 'mappings', `m${i}.json`), JSON.stringify(m));
    const out = join(s.dir, 'traffic');
    const r = await runCli(['import', 'wiremock', join(s.dir, 'mappings'), '--out', out]);
    expect(r.stderr).toContain(`skipped ${join(s.dir, 'mappings', 'm3.json')}#0: scenario "To do list": state "Never" is never reached from "Started"`);
    expect(r.stderr).toContain('imported 3 exchanges, skipped 1');
    expect(r.stderr).toContain(`doppel mock --traffic ${out} --http-dep wiremock=`);
    expect(r.code).toBe(0);
    const got = (await readAll(out)) as HttpExchange[];
    expect(got.map((e) => [e.http.request.method, e.tags.scenario, e.tags.scenarioState])).toEqual([
      ['GET', 'To do list', 'Started'],
      ['POST', 'To do list', 'Started'],
      ['GET', 'To do list', 'Cancel newspaper item added'],
    ]);

    const mock = startCli(['mock', '--traffic', out, '--http-dep', 'wiremock=127.0.0.1:0', '--admin', '127.0.0.1:0']);
    cleanups.push(() => mock.stop());
    const base = `http://${(await mock.waitFor('http mock listening')).address as string}`;
    const text = async (method: string, body?: string) => {
      const res = await request(`${base}/todo/items`, { method: method as 'GET', body: body ?? null });
      return `${res.statusCode} ${await res.body.text()}`;
    };
    expect(await text('GET')).toBe('200 <items><item>Buy milk</item></items>');
    expect(await text('POST', 'Cancel newspaper subscription')).toBe('201 ');
    expect(await text('GET')).toBe('200 <items><item>Buy milk</item><item>Cancel newspaper subscription</item></items>');
    expect(await mock.stop()).toBe(0);
  });

  it('adds the stubs of a second import to the same traffic directory', async () => {
    const s = await scratchDir();
    cleanups.push(s.cleanup);
    const out = join(s.dir, 'traffic');
    for (const [i, path] of ['/a/.*', '/b/.*'].entries()) {
      const f = join(s.dir, `m${i}.json`);
      await writeFile(f, JSON.stringify([{ request: { method: 'GET', urlPattern: path }, response: { status: 200 } }]));
      const r = await runCli(['import', 'wiremock', f, '--out', out, '--service', 'svc']);
      expect(r.stderr).toContain('imported 0 exchanges, skipped 0, 1 stubs');
      expect(r.code).toBe(0);
    }
    const stubFile = JSON.parse(await readFile(join(out, 'stubs', 'svc.json'), 'utf8')) as { mappings: Array<{ request: { urlPattern: string } }> };
    expect(stubFile.mappings.map((m) => m.request.urlPattern)).toEqual(['/a/.*', '/b/.*']);
    await expect(access(join(out, 'manifest.json'))).resolves.toBeUndefined();

    // a stubs file that is not one stops the next import before it writes anything
    await writeFile(join(out, 'stubs', 'svc.json'), '{"mappings": [');
    const f = join(s.dir, 'm2.json');
    await writeFile(f, JSON.stringify({ request: { method: 'GET', url: '/c' }, response: { status: 200 } }));
    const r = await runCli(['import', 'wiremock', f, '--out', out, '--service', 'svc']);
    expect(r.stderr).toContain(`doppel: ${join(out, 'stubs', 'svc.json')}:1: not valid JSON`);
    expect(r.stderr).toContain('move it away to import stubs of svc here');
    expect(r.code).toBe(2);
    expect(await readAll(out)).toEqual([]);
  });

  it('exits 2 naming file and reason when nothing could be imported, and writes nothing', async () => {
    const s = await scratchDir();
    cleanups.push(s.cleanup);
    const bad = join(s.dir, 'bad.json');
    await writeFile(bad, '{\n "request": {\n  "method": "GET",\n  "url": /x\n }\n}\n');
    const out = join(s.dir, 't');
    const r = await runCli(['import', 'wiremock', bad, '--out', out]);
    expect(r.stderr).toContain(`skipped ${bad}:4: not valid JSON`);
    expect(r.stderr).toContain(`doppel: ${bad}: nothing imported: every mapping was skipped (1 skipped, reasons above)`);
    expect(r.code).toBe(2);

    const useless = join(s.dir, 'useless.json');
    await writeFile(useless, JSON.stringify({ request: { method: 'GET', url: '/x', cookies: { session: { equalTo: 'a' } } }, response: { proxyBaseUrl: 'http://example.com' } }));
    const r2 = await runCli(['import', 'wiremock', useless, '--out', out]);
    expect(r2.stderr).toContain(`skipped ${useless}#0: request.cookies: not supported`);
    expect(r2.stderr).toContain('nothing imported');
    expect(r2.code).toBe(2);

    const empty = join(s.dir, 'empty.json');
    await writeFile(empty, '{"mappings": []}');
    const r3 = await runCli(['import', 'wiremock', empty, '--out', out]);
    expect(r3.stderr).toContain(`doppel: ${empty}: nothing imported: it holds no mappings`);
    expect(r3.code).toBe(2);

    const notMapping = join(s.dir, 'number.json');
    await writeFile(notMapping, '42');
    const r4 = await runCli(['import', 'wiremock', notMapping, '--out', out]);
    expect(r4.stderr).toContain(`skipped ${notMapping}: not a WireMock mapping, a list of them or {"mappings": [...]}`);
    expect(r4.code).toBe(2);

    const r5 = await runCli(['import', 'wiremock', join(s.dir, 'absent'), '--out', out]);
    expect(r5.stderr).toContain(`${join(s.dir, 'absent')}: cannot read it`);
    expect(r5.code).toBe(2);
    await expect(access(out)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
