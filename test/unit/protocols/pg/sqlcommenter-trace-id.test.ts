import { describe, expect, it } from 'vitest';
import { traceIdOfSql } from '../../../../src/protocols/pg/sqlcommenter.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const TP = `00-${TRACE}-00f067aa0ba902b7-01`;

describe('traceIdOfSql (sqlcommenter)', () => {
  it('reads the trace id of a trailing sqlcommenter comment, URL-encoded or not', () => {
    expect(traceIdOfSql(`SELECT * FROM orders WHERE id = $1 /*traceparent='${TP}'*/`)).toBe(TRACE);
    expect(traceIdOfSql(`SELECT 1 /*controller='orders',route='%2Forders%2F%3Aid',traceparent='${encodeURIComponent(TP)}',tracestate='congo%3Dt61rcWkgMzE'*/`)).toBe(TRACE);
    expect(traceIdOfSql(`UPDATE t SET n = 1 /*traceparent='${TP.toUpperCase()}'*/;`)).toBe(TRACE);
  });

  it('gives undefined for statements without a usable traceparent', () => {
    expect(traceIdOfSql('SELECT 1')).toBeUndefined();
    expect(traceIdOfSql(`SELECT 'traceparent=''${TP}'''`)).toBeUndefined();
    expect(traceIdOfSql(`SELECT 1 /*traceparent='not-a-traceparent'*/`)).toBeUndefined();
    expect(traceIdOfSql(`SELECT 1 /*traceparent='00-${'0'.repeat(32)}-00f067aa0ba902b7-01'*/`)).toBeUndefined();
    expect(traceIdOfSql(`SELECT 1 /*traceparent='%E0%A4%A'*/`)).toBeUndefined();
    expect(traceIdOfSql(`SELECT 1 /*traceparent='${TP}'`)).toBeUndefined();
  });
});
