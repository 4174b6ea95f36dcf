import { describe, expect, it } from 'vitest';
import type { PgExchange, PgField } from '../../../../src/core/exchange.js';
import type { BackendEvent } from '../../../../src/protocols/pg/backend-decoder.js';
import type { FrontendMessage } from '../../../../src/protocols/pg/frontend-decoder.js';
import { millis3, pgExchangeLine } from '../../../../src/protocols/pg/pg-exchange-json.js';
import { PgRecordSession, toPgExchange, type RecordedPg } from '../../../../src/protocols/pg/record-session.js';

/** Strings JSON.stringify escapes or passes through in every way it can. */
const AWKWARD = ['plain', 'quote " and backslash \\', 'tab\tnewline\ncr\r nul\u0000 esc\u001b del\u007f', 'é ✓ 日本 😀', 'lone \ud800 high', 'lone \udc00 low', 'line sep \u2028 para \u2029', '</script>', ''];

const FIELD: PgField = { name: 'n', tableOid: 16384, column: 1, typeOid: 23, typeSize: 4, typeMod: -1, format: 0 };

/** Runs a session over messages and returns the exchanges the record relay would store. */
function exchangesOf(steps: Array<['F', FrontendMessage] | ['B', BackendEvent]>): PgExchange[] {
  const out: RecordedPg[] = [];
  const s = new PgRecordSession({ connection: 'c-x "1"', emit: (r) => out.push(r) });
  let at = 1_733_300_000_000.25;
  for (const [side, m] of steps) {
    at += 0.3337;
    if (side === 'F') s.onFrontend(m, at);
    else s.onBackend(m, at);
  }
  s.close();
  return out.map((r) => toPgExchange(r, 'db'));
}

const startup: Array<['F', FrontendMessage] | ['B', BackendEvent]> = [
  ['F', { type: 'startup', major: 3, minor: 0, parameters: { user: 'u', database: 'd "x"', application_name: 'é' }, raw: Buffer.alloc(0) }],
  ['B', { type: 'authentication', code: 0, mechanisms: [] }],
  ['B', { type: 'parameterStatus', name: 'TimeZone', value: 'Etc/UTC' }],
  ['B', { type: 'backendKeyData', processId: 42, secretKey: -7 }],
  ['B', { type: 'readyForQuery', status: 'I' }],
];

describe('pgExchangeLine writes what JSON.stringify writes for the record session`s exchanges', () => {
  it('simple queries with several results, awkward text, NULLs, an empty query and a notice', () => {
    const rows: BackendEvent[] = AWKWARD.map((t) => ({ type: 'dataRow', cells: [Buffer.from(t), null] }));
    const exchanges = exchangesOf([
      ...startup,
      ['F', { type: 'query', sql: `SELECT '${AWKWARD.join("', '")}'; SELECT 1;;` }],
      ['B', { type: 'rowDescription', fields: [{ ...FIELD, name: 'é "n"' }, { ...FIELD, name: 'z', typeOid: 25 }] }],
      ...rows.map((r) => ['B', r] as ['B', BackendEvent]),
      ['B', { type: 'commandComplete', tag: `SELECT ${rows.length}` }],
      ['B', { type: 'notice', fields: { severity: 'NOTICE', code: '00000', message: 'hi "there"\n', where: 'PL/pgSQL' } }],
      ['B', { type: 'rowDescription', fields: [FIELD] }],
      ['B', { type: 'dataRow', cells: [Buffer.from('1')] }],
      ['B', { type: 'commandComplete', tag: 'SELECT 1' }],
      ['B', { type: 'emptyQuery' }],
      ['B', { type: 'readyForQuery', status: 'I' }],
      ['F', { type: 'query', sql: 'SELEC 1' }],
      ['B', { type: 'error', fields: { severity: 'ERROR', code: '42601', message: 'syntax error at or near "SELEC"', position: '1', file: 'scan.l', line: '1188', routine: 'scanner_yyerror' } }],
      ['B', { type: 'readyForQuery', status: 'I' }],
    ]);
    expect(exchanges).toHaveLength(3);
    expect(exchanges[1]?.pg.response.results).toHaveLength(3);
    for (const ex of exchanges) expect(pgExchangeLine(ex)).toBe(JSON.stringify(ex));
  });

  it('extended runs: named statements, text and binary parameters and results, a suspended portal, errors at parse, bind and execute', () => {
    const exchanges = exchangesOf([
      ...startup,
      // a named statement with declared and described types, binary parameters and results
      ['F', { type: 'parse', name: 'S_1', sql: 'SELECT $1::int, $2::text', paramTypes: [23, 0] }],
      ['F', { type: 'bind', portal: '', statement: 'S_1', paramFormats: [1, 0], params: [Buffer.from([0, 0, 0, 42]), Buffer.from(AWKWARD[3] as string)], resultFormats: [1] }],
      ['F', { type: 'describe', target: 'P', name: '' }],
      ['F', { type: 'execute', portal: '', maxRows: 0 }],
      ['F', { type: 'sync' }],
      ['B', { type: 'parseComplete' }],
      ['B', { type: 'bindComplete' }],
      ['B', { type: 'rowDescription', fields: [{ ...FIELD, format: 1 }, { ...FIELD, name: 't', typeOid: 25, format: 1 }] }],
      ['B', { type: 'dataRow', cells: [Buffer.from([0, 0, 0, 42]), Buffer.from([0xff, 0x00, 0x22])] }],
      ['B', { type: 'commandComplete', tag: 'SELECT 1' }],
      ['B', { type: 'readyForQuery', status: 'I' }],
      // a portal run with a row limit: suspended, then run to its end
      ['F', { type: 'parse', name: '', sql: 'SELECT generate_series(1, $1)', paramTypes: [] }],
      ['F', { type: 'bind', portal: 'p1', statement: '', paramFormats: [], params: [Buffer.from('3')], resultFormats: [] }],
      ['F', { type: 'describe', target: 'S', name: '' }],
      ['F', { type: 'execute', portal: 'p1', maxRows: 2 }],
      ['F', { type: 'flush' }],
      ['B', { type: 'parseComplete' }],
      ['B', { type: 'bindComplete' }],
      ['B', { type: 'parameterDescription', types: [23] }],
      ['B', { type: 'rowDescription', fields: [FIELD] }],
      ['B', { type: 'dataRow', cells: [Buffer.from('1')] }],
      ['B', { type: 'dataRow', cells: [null] }],
      ['B', { type: 'portalSuspended' }],
      ['F', { type: 'sync' }],
      ['B', { type: 'readyForQuery', status: 'T' }],
      // errors in each phase
      ['F', { type: 'parse', name: '', sql: 'SELEC $1', paramTypes: [] }],
      ['F', { type: 'bind', portal: '', statement: '', paramFormats: [], params: [null], resultFormats: [] }],
      ['F', { type: 'sync' }],
      ['B', { type: 'error', fields: { severity: 'ERROR', code: '42601', message: 'syntax error' } }],
      ['B', { type: 'readyForQuery', status: 'E' }],
      ['F', { type: 'query', sql: 'ROLLBACK' }],
      ['B', { type: 'commandComplete', tag: 'ROLLBACK' }],
      ['B', { type: 'readyForQuery', status: 'I' }],
      ['F', { type: 'parse', name: '', sql: 'SELECT $1::int', paramTypes: [] }],
      ['F', { type: 'bind', portal: '', statement: '', paramFormats: [], params: [Buffer.from('abc')], resultFormats: [] }],
      ['F', { type: 'execute', portal: '', maxRows: 0 }],
      ['F', { type: 'sync' }],
      ['B', { type: 'parseComplete' }],
      ['B', { type: 'error', fields: { severity: 'ERROR', code: '22P02', message: 'invalid input syntax for type integer: "abc"' } }],
      ['B', { type: 'readyForQuery', status: 'I' }],
      ['F', { type: 'parse', name: '', sql: 'SELECT 1/$1', paramTypes: [] }],
      ['F', { type: 'bind', portal: '', statement: '', paramFormats: [], params: [Buffer.from('0')], resultFormats: [] }],
      ['F', { type: 'execute', portal: '', maxRows: 0 }],
      ['F', { type: 'sync' }],
      ['B', { type: 'parseComplete' }],
      ['B', { type: 'bindComplete' }],
      ['B', { type: 'error', fields: { severity: 'ERROR', code: '22012', message: 'division by zero' } }],
      ['B', { type: 'readyForQuery', status: 'I' }],
    ]);
    const kinds = exchanges.map((e) => [e.pg.request.kind, e.tags.pgErrorPhase ?? '-', (e.pg.response.results ?? [])[0]?.suspended ?? '-']);
    expect(kinds).toEqual([
      ['startup', '-', '-'],
      ['extended', '-', '-'],
      ['extended', '-', true],
      ['extended', 'parse', '-'],
      ['simple', '-', '-'],
      ['extended', 'bind', '-'],
      ['extended', 'execute', '-'],
    ]);
    expect(JSON.stringify(exchanges[1])).toContain('"b64"');
    expect(JSON.stringify(exchanges[1])).toContain('"statement":"S_1"');
    for (const ex of exchanges) expect(pgExchangeLine(ex)).toBe(JSON.stringify(ex));
  });

  it('a parent, tags and a duration that is not a number come out as JSON.stringify writes them', () => {
    const [, ex] = exchangesOf([...startup, ['F', { type: 'query', sql: 'SELECT 1' }], ['B', { type: 'readyForQuery', status: 'I' }]]);
    const base = ex as PgExchange;
    for (const variant of [
      { ...base, parent: '01PARENT "x"' },
      { ...base, tags: { pgErrorPhase: 'sync', source: 'mock-passthrough' } },
      { ...base, durationMs: Number.NaN },
      { ...base, durationMs: Number.POSITIVE_INFINITY },
      { ...base, durationMs: -0 },
    ]) {
      expect(pgExchangeLine(variant)).toBe(JSON.stringify(variant));
    }
  });
});

describe('millis3 writes a microsecond-rounded duration as String() does', () => {
  it('for every duration up to 3,000 s in microseconds', () => {
    let differing = 0;
    for (let k = 0; k < 3_000_000; k++) if (millis3(k / 1000) !== String(k / 1000)) differing++;
    expect(differing).toBe(0);
  });

  it('for durations up to 1e9 ms, and through String() for anything not rounded so or out of range', () => {
    let seed = 42;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 200_000; i++) {
      const d = Math.round(next() * 1e12) / 1000;
      expect(millis3(d)).toBe(String(d));
    }
    for (const d of [1 / 3, 0.0001, 1e-7, 2.5e-7, -1, -0.001, 1e9, 1e12 + 0.5, 1e21, Number.MAX_VALUE, -0]) expect(millis3(d)).toBe(JSON.stringify(d));
    for (const d of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) expect(millis3(d)).toBe('null');
  });
});
