import { describe, expect, it } from 'vitest';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { renderJunit, escapeXml } from '../../../src/report/junit.js';
import { renderHtml } from '../../../src/report/html.js';
import { sampleRun } from '../../helpers/report-fixtures.js';
import type { EndpointStats } from '../../../src/gates/types.js';

function parseJunit(xml: string) {
  expect(XMLValidator.validate(xml)).toBe(true);
  return new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (name) => ['testsuite', 'testcase'].includes(name) }).parse(xml);
}

describe('junit.xml', () => {
  it('is valid JUnit XML with one test case per gate and per endpoint, failures carrying the diff', () => {
    const doc = parseJunit(renderJunit(sampleRun()));
    const suites = doc.testsuites.testsuite;
    expect(doc.testsuites.name).toBe('doppel replay run-<1>&"x"');
    expect(doc.testsuites.tests).toBe('4');
    expect(doc.testsuites.failures).toBe('2');
    const [gates, endpoints] = suites;
    expect(gates.name).toBe('doppel.gates');
    expect(gates.testcase.map((c: { name: string }) => c.name)).toEqual(['status_pass_rate >= 0.99', 'body_match_rate >= 0.95']);
    expect(gates.testcase[0].failure).toBeUndefined();
    expect(gates.testcase[1].failure.message).toBe('body_match_rate is 0.8, expected >= 0.95');
    expect(endpoints.testcase.map((c: { name: string }) => c.name)).toEqual(['GET /orders/:id', 'GET /search?q=<script>']);
    const failure = endpoints.testcase[0].failure;
    expect(failure.message).toBe('2 of 6 responses differ');
    expect(failure['#text']).toContain('$.total (changed) in 2 responses, e.g. exchange ex-1:');
    expect(failure['#text']).toContain('actual:   "<b>11</b>"');
    expect(endpoints.testcase[1].failure).toBeUndefined();
  });

  it('adds an errored run case when the run was aborted', () => {
    const doc = parseJunit(renderJunit(sampleRun({ verdict: 'aborted', abortReason: 'cutoff max_5xx_rate: 5xx on 40% of 50 requests' })));
    const gates = doc.testsuites.testsuite[0];
    expect(gates.errors).toBe('1');
    expect(gates.testcase[0].name).toBe('run');
    expect(gates.testcase[0].error.message).toMatch(/^cutoff max_5xx_rate/);
  });

  it('escapes markup and drops characters XML cannot hold', () => {
    expect(escapeXml(`a<b>&"c'\u0001`)).toBe('a&lt;b&gt;&amp;&quot;c&apos;\uFFFD');
    const xml = renderJunit(sampleRun({ runId: 'bad\u0000id\u001b[31m' }));
    expect(XMLValidator.validate(xml)).toBe(true);
  });
});

describe('report.html', () => {
  it('escapes all run data and loads nothing from the network', () => {
    const html = renderHtml(sampleRun());
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<b>11</b>');
    expect(html).not.toContain('<script');
    expect(html).toContain('&lt;b&gt;11&lt;/b&gt;');
    expect(html).toContain('run-&lt;1&gt;&amp;&quot;x&quot;');
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?(https?:)?\/\//i);
    expect(html).toContain(`default-src 'none'`);
  });

  it('highlights differing paths in the side-by-side bodies', () => {
    const html = renderHtml(sampleRun());
    expect(html).toContain('<span class="diff">  &quot;total&quot;: 10,</span>');
    expect(html).toContain('<span class="diff extra">  &quot;total&quot;: &quot;&lt;b&gt;11&lt;/b&gt;&quot;,</span>');
    expect(html).toContain('<span class="diff extra">  &quot;note&quot;: ');
  });

  it('draws latency from the paired durations when the run has them, and says so', () => {
    const run = sampleRun();
    const paired = { baseline: run.latency.baseline, candidate: run.latency.candidate };
    const html = renderHtml({ ...run, latency: { ...run.latency, paired } });
    expect(html).toContain('Whole run, paired requests');
    expect(renderHtml(run)).toContain('Whole run, all requests');
  });

  it('draws the side it has, and says which side had no durations', () => {
    const run = sampleRun();
    const [orders, search] = run.endpoints as [EndpointStats, EndpointStats];
    const noBaseline = { ...orders, latency: { baseline: { count: 0, p50: undefined, p95: undefined, p99: undefined }, candidate: orders.latency.candidate } };
    // a report written before distributions were kept: percentiles without points
    const older = { ...search, latency: { baseline: { count: 4, p50: 5, p95: 9, p99: 9 }, candidate: { count: 4, p50: 6, p95: 11, p99: 11 } } };
    const html = renderHtml({ ...run, endpoints: [noBaseline, older] });
    const figures = html.split('<figure').slice(2);
    expect(figures[0]).toContain('<polyline class="series candidate"');
    expect(figures[0]).not.toContain('<polyline class="series baseline"');
    expect(figures[0]).toContain('baseline (n=0, no durations)');
    expect(figures[1]).not.toContain('<svg');
    expect(figures[1]).toContain('No durations to draw.');
  });
});

