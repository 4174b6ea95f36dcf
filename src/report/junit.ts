/**
 * junit.xml: one test suite of gates and one of endpoints, one test case per
 * gate and per endpoint, so CI systems show what failed and why. An aborted
 * run adds an errored "run" case carrying the cutoff reason.
 */
import type { GateResult } from '../gates/types.js';
import type { RunReport, TopDiff } from './types.js';

// XML 1.0 §2.2: tab, LF, CR and U+0020 onwards, minus surrogates and U+FFFE/U+FFFF; anything else cannot appear even escaped.
const INVALID_XML_CHARS = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

/** Escapes text for XML content and attribute values. */
export function escapeXml(value: string): string {
  return value
    .replace(INVALID_XML_CHARS, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

function attrs(a: Record<string, string | number>): string {
  return Object.entries(a)
    .map(([k, v]) => ` ${k}="${escapeXml(String(v))}"`)
    .join('');
}

export function formatValue(v: unknown): string {
  if (v === undefined) return '(absent)';
  // JSON.stringify answers undefined only for functions and symbols, which parsed JSON never holds
  return JSON.stringify(v) ?? typeof v;
}

function gateCase(g: GateResult): string {
  const name = `${g.gate} ${g.expression}`;
  const head = `    <testcase${attrs({ classname: 'doppel.gates', name, time: 0 })}`;
  if (g.isPassing) return `${head}/>`;
  const value = g.value === undefined ? `no value (${g.note ?? 'no data'})` : String(g.value);
  const message = `${g.gate} is ${value}, expected ${g.expression}`;
  return `${head}>\n      <failure${attrs({ message, type: 'gate' })}>${escapeXml(message)}</failure>\n    </testcase>`;
}

function endpointCase(run: RunReport, e: RunReport['endpoints'][number], diffs: readonly TopDiff[]): string {
  const head = `    <testcase${attrs({ classname: 'doppel.endpoints', name: e.endpoint, time: 0 })}`;
  const failing = e.mismatches + e.errors;
  if (failing === 0) return `${head}/>`;
  const message = `${e.mismatches} of ${e.requests} responses differ${e.errors > 0 ? `, ${e.errors} unanswered` : ''}`;
  const lines = [message, ''];
  for (const d of diffs) {
    lines.push(`${d.path} (${d.kind}) in ${d.count} response${d.count === 1 ? '' : 's'}, e.g. exchange ${d.example.exchangeId}:`);
    lines.push(`  expected: ${formatValue(d.example.expected)}`);
    lines.push(`  actual:   ${formatValue(d.example.actual)}`);
  }
  const samples = run.samples.filter((s) => s.endpoint === e.endpoint);
  for (const s of samples) {
    lines.push('', `exchange ${s.exchangeId}: status ${s.baselineStatus} -> ${s.candidateStatus ?? 'no answer'}`);
    for (const d of s.diffs) lines.push(`  ${d.path} (${d.kind}): ${formatValue(d.expected)} -> ${formatValue(d.actual)}`);
  }
  return `${head}>\n      <failure${attrs({ message, type: 'mismatch' })}>${escapeXml(lines.join('\n'))}</failure>\n    </testcase>`;
}

function seconds(run: RunReport): number {
  const ms = Date.parse(run.finishedAt) - Date.parse(run.startedAt);
  return Number.isFinite(ms) && ms > 0 ? ms / 1000 : 0;
}

export function renderJunit(run: RunReport): string {
  const time = seconds(run);
  const gateFailures = run.gates.filter((g) => !g.isPassing).length;
  const endpointFailures = run.endpoints.filter((e) => e.mismatches + e.errors > 0).length;
  const isAborted = run.verdict === 'aborted';
  const gateCases = run.gates.map(gateCase);
  if (isAborted) {
    const reason = run.abortReason ?? 'run aborted';
    gateCases.unshift(
      `    <testcase${attrs({ classname: 'doppel.gates', name: 'run', time })}>\n      <error${attrs({ message: reason, type: 'aborted' })}>${escapeXml(reason)}</error>\n    </testcase>`,
    );
  }
  const endpointCases = run.endpoints.map((e) => endpointCase(run, e, run.topDiffs.filter((d) => d.endpoint === e.endpoint).slice(0, 10)));
  const tests = gateCases.length + endpointCases.length;
  const errors = isAborted ? 1 : 0;
  const suite = (name: string, cases: string[], failures: number, errs: number) =>
    `  <testsuite${attrs({ name, tests: cases.length, failures, errors: errs, skipped: 0, time, timestamp: run.startedAt })}>\n${cases.join('\n')}${cases.length ? '\n' : ''}  </testsuite>`;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${attrs({ name: `doppel ${run.mode} ${run.runId}`, tests, failures: gateFailures + endpointFailures, errors, time })}>`,
    suite('doppel.gates', gateCases, gateFailures, errors),
    suite('doppel.endpoints', endpointCases, endpointFailures, 0),
    '</testsuites>',
    '',
  ].join('\n');
}
