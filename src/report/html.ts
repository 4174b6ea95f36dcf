/**
 * report.html: one self-contained page for a person. Inline CSS, no script,
 * no fetches (a Content-Security-Policy of default-src 'none' makes sure);
 * every piece of run data goes through escapeHtml.
 */
import { formatPath, type PathSegment } from '../core/json-path.js';
import type { FieldDiff } from '../compare/types.js';
import type { Percentiles } from '../gates/types.js';
import type { SideBySideSample, RunReport } from './types.js';
import { escapeHtml } from './escape-html.js';
import { LATENCY_CHART_STYLE, renderEndpointLatencyCharts, renderRunLatencyChart } from './latency-chart.js';

export { escapeHtml };

const e = escapeHtml;

function show(v: unknown): string {
  if (v === undefined) return '<span class="muted">(absent)</span>';
  return e(JSON.stringify(v) ?? typeof v);
}

function pct(num: number, den: number): string {
  return den === 0 ? '–' : `${((num / den) * 100).toFixed(1)}%`;
}

function ms(v: number | undefined): string {
  if (v === undefined) return '–';
  return v >= 100 ? `${v.toFixed(0)} ms` : v >= 10 ? `${v.toFixed(1)} ms` : `${v.toFixed(2)} ms`;
}

function delta(b: number | undefined, c: number | undefined): string {
  if (b === undefined || c === undefined || b <= 0) return '–';
  const d = c / b - 1;
  const cls = d > 0.1 ? 'bad' : d < -0.1 ? 'good' : '';
  return `<span class="${cls}">${d >= 0 ? '+' : ''}${(d * 100).toFixed(1)}%</span>`;
}

function gateValue(v: number | undefined, gate: string): string {
  if (v === undefined) return '–';
  if (gate === 'new_mismatch') return String(v);
  if (gate.endsWith('_delta')) return `${v >= 0 ? '+' : ''}${(v * 100).toFixed(1)}%`;
  return `${(v * 100).toFixed(2)}%`;
}

const STYLE = `
:root{--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--muted:#6e7781;--bg:#f6f8fa;--hl:#ffebe9;--hl2:#dafbe1;--border:#d0d7de}
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:24px;color:#1f2328}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid var(--border);padding-bottom:4px}
.verdict{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:600;text-transform:uppercase;font-size:13px;vertical-align:middle}
.verdict.pass{background:var(--ok)}.verdict.fail{background:var(--bad)}.verdict.aborted{background:var(--warn)}
.meta{color:var(--muted)}.muted{color:var(--muted)}.abort{background:#fff8c5;border:1px solid #d4a72c;padding:8px 12px;border-radius:6px;margin:12px 0}
table{border-collapse:collapse;margin:6px 0 12px;min-width:50%}th,td{border:1px solid var(--border);padding:4px 8px;text-align:left;vertical-align:top}
th{background:var(--bg)}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.failing td{background:var(--hl)}.status-pass{color:var(--ok);font-weight:600}.status-fail{color:var(--bad);font-weight:600}
.bad{color:var(--bad)}.good{color:var(--ok)}
.bar{display:inline-block;height:8px;background:var(--ok);vertical-align:middle;margin-right:6px}.bar.low{background:var(--bad)}
.sample{border:1px solid var(--border);border-radius:6px;margin:12px 0;padding:8px 12px}
.sides{display:grid;grid-template-columns:1fr 1fr;gap:12px}.sides h4{margin:4px 0}
pre{background:var(--bg);padding:8px;overflow:auto;max-height:480px;margin:0;font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace}
pre .diff{background:var(--hl);display:inline-block;min-width:100%}pre .diff.extra{background:var(--hl2)}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace}
`;

/** Renders a JSON value as indented lines, marking lines at differing paths. */
function renderJson(value: unknown, hot: ReadonlySet<string>, extraClass: string): string {
  const out: string[] = [];
  const path: PathSegment[] = [];
  const mark = (line: string, isHot: boolean) => (isHot ? `<span class="diff${extraClass}">${line}</span>` : line);
  const walk = (v: unknown, indent: string, prefix: string, suffix: string, inHot: boolean) => {
    const isHot = inHot || hot.has(formatPath(path));
    if (v !== null && typeof v === 'object') {
      const isArray = Array.isArray(v);
      const entries: Array<[PathSegment, unknown]> = isArray ? v.map((x, i) => [i, x]) : Object.entries(v as Record<string, unknown>);
      if (entries.length === 0) {
        out.push(mark(`${indent}${prefix}${isArray ? '[]' : '{}'}${suffix}`, isHot));
        return;
      }
      out.push(mark(`${indent}${prefix}${isArray ? '[' : '{'}`, isHot));
      entries.forEach(([k, child], i) => {
        path.push(k);
        const childPrefix = typeof k === 'number' ? '' : `${e(JSON.stringify(k))}: `;
        walk(child, `${indent}  `, childPrefix, i < entries.length - 1 ? ',' : '', isHot);
        path.pop();
      });
      out.push(mark(`${indent}${isArray ? ']' : '}'}${suffix}`, isHot));
      return;
    }
    out.push(mark(`${indent}${prefix}${e(JSON.stringify(v) ?? 'null')}${suffix}`, isHot));
  };
  walk(value, '', '', '', false);
  return out.join('\n');
}

function renderBody(body: string | undefined, diffs: readonly FieldDiff[], side: 'baseline' | 'candidate'): string {
  if (body === undefined || body === '') return '<pre class="muted">(no body)</pre>';
  const hot = new Set<string>();
  let isWholeBody = false;
  for (const d of diffs) {
    if (side === 'baseline' && d.kind === 'extra') continue;
    if (side === 'candidate' && d.kind === 'missing') continue;
    if (d.path === '$') isWholeBody = true;
    hot.add(d.path);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    const text = e(body);
    return `<pre>${isWholeBody ? `<span class="diff">${text}</span>` : text}</pre>`;
  }
  return `<pre>${renderJson(parsed, hot, side === 'candidate' ? ' extra' : '')}</pre>`;
}

function renderSample(s: SideBySideSample): string {
  const rows = s.diffs
    .map((d) => `<tr><td><code>${e(d.path)}</code></td><td>${e(d.kind)}</td><td>${show(d.expected)}</td><td>${show(d.actual)}</td></tr>`)
    .join('');
  return `<div class="sample">
<div><strong>${e(s.endpoint)}</strong> <span class="muted">exchange <code>${e(s.exchangeId)}</code> · status ${e(String(s.baselineStatus))} → ${e(String(s.candidateStatus ?? 'no answer'))}</span></div>
<table><tr><th>path</th><th>kind</th><th>expected (baseline)</th><th>actual (candidate)</th></tr>${rows}</table>
<div class="sides"><div><h4>baseline</h4>${renderBody(s.baselineBody, s.diffs, 'baseline')}</div><div><h4>candidate</h4>${renderBody(s.candidateBody, s.diffs, 'candidate')}</div></div>
</div>`;
}

function latencyRow(name: string, b: Percentiles, c: Percentiles): string {
  return `<tr><td>${e(name)}</td><td class="num">${b.count}</td><td class="num">${c.count}</td>${(['p50', 'p95', 'p99'] as const)
    .map((q) => `<td class="num">${ms(b[q])}</td><td class="num">${ms(c[q])}</td><td class="num">${delta(b[q], c[q])}</td>`)
    .join('')}</tr>`;
}

export function renderHtml(run: RunReport): string {
  const c = run.counts;
  const gates = run.gates
    .map(
      (g) =>
        `<tr class="${g.isPassing ? '' : 'failing'}"><td><code>${e(g.gate)}</code></td><td><code>${e(g.expression)}</code></td><td class="num">${gateValue(g.value, g.gate)}</td><td class="${g.isPassing ? 'status-pass' : 'status-fail'}">${g.isPassing ? 'PASS' : 'FAIL'}</td><td class="muted">${e(g.note ?? '')}</td></tr>`,
    )
    .join('\n');
  const endpoints = run.endpoints
    .map((ep) => {
      const rate = ep.requests === 0 ? 0 : ep.bodyMatch / ep.requests;
      return `<tr class="${ep.mismatches + ep.errors > 0 ? 'failing' : ''}"><td><code>${e(ep.endpoint)}</code></td><td class="num">${ep.requests}</td><td class="num"><span class="bar${rate < 0.95 ? ' low' : ''}" style="width:${Math.round(rate * 60)}px"></span>${pct(ep.bodyMatch, ep.requests)}</td><td class="num">${pct(ep.statusPass, ep.requests)}</td><td class="num">${ep.mismatches}</td><td class="num">${ep.noise}</td><td class="num">${ep.errors}</td><td class="num">${ms(ep.latency.baseline.p95)}</td><td class="num">${ms(ep.latency.candidate.p95)}</td></tr>`;
    })
    .join('\n');
  const top = run.topDiffs
    .map((d) => `<tr><td><code>${e(d.endpoint)}</code></td><td><code>${e(d.path)}</code></td><td>${e(d.kind)}</td><td class="num">${d.count}</td><td>${show(d.example.expected)}</td><td>${show(d.example.actual)}</td></tr>`)
    .join('\n');
  const noise = run.noise
    .map(
      (n) =>
        `<tr><td><code>${e(n.endpoint)}</code></td><td><code>${e(n.path)}</code></td><td class="num">${n.selfMismatches}/${n.selfSamples} (${pct(n.selfMismatches, n.selfSamples)})</td><td class="num">${n.candidateMismatches}/${n.candidateSamples}</td><td class="${n.decision === 'noise' ? '' : 'bad'}">${e(n.decision)}</td><td>${n.samples.map((s) => `${show(s.expected)} → ${show(s.actual)}`).join('<br>')}</td></tr>`,
    )
    .join('\n');
  const L = run.latency;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>doppel ${e(run.mode)} ${e(run.runId)}: ${e(run.verdict)}</title>
<style>${STYLE}${LATENCY_CHART_STYLE}</style>
</head>
<body>
<h1>doppel ${e(run.mode)} <code>${e(run.runId)}</code> <span id="verdict" class="verdict ${e(run.verdict)}">${e(run.verdict)}</span></h1>
<div class="meta">${e(run.startedAt)} → ${e(run.finishedAt)}${run.target ? ` · target ${e(run.target)}` : ''}${run.baseline ? ` · judged against ${e(run.baseline)}` : ''}</div>
${run.abortReason ? `<div class="abort" id="abort-reason"><strong>Aborted:</strong> ${e(run.abortReason)}</div>` : ''}
<h2>Quality gates</h2>
${run.gates.length === 0 ? '<p class="muted">No quality gates configured.</p>' : `<table id="gates"><tr><th>gate</th><th>expression</th><th>value</th><th>result</th><th>note</th></tr>\n${gates}\n</table>`}
<h2>Counts</h2>
<table id="counts"><tr><th>requests</th><th>answered</th><th>errors</th><th>status equal</th><th>body match</th><th>mismatches</th><th>new mismatches</th><th>noise</th><th>fields match / mismatch / ignored</th><th>mock matched / unmatched / passthrough</th></tr>
<tr><td class="num">${c.requests}</td><td class="num">${c.answered}</td><td class="num">${c.errors}</td><td class="num">${pct(c.statusPass, c.requests)}</td><td class="num">${pct(c.bodyMatch, c.requests)}</td><td class="num">${c.mismatches}</td><td class="num">${c.newMismatches}</td><td class="num">${c.noise}</td><td class="num">${c.fields.match} / ${c.fields.mismatch} / ${c.fields.ignored}</td><td class="num">${c.mock.matched} / ${c.mock.unmatched} / ${c.mock.passthrough}</td></tr></table>
<h2>Latency, baseline vs candidate</h2>
<table id="latency"><tr><th></th><th>baseline n</th><th>candidate n</th><th>p50 baseline</th><th>p50 candidate</th><th>Δ</th><th>p95 baseline</th><th>p95 candidate</th><th>Δ</th><th>p99 baseline</th><th>p99 candidate</th><th>Δ</th></tr>
${latencyRow('paired requests', L.paired.baseline, L.paired.candidate)}
${latencyRow('all requests', L.baseline, L.candidate)}
</table>
${renderRunLatencyChart(run)}
<h2>Endpoints</h2>
${run.endpoints.length === 0 ? '<p class="muted">No requests judged.</p>' : `<table id="endpoints"><tr><th>endpoint</th><th>requests</th><th>body match</th><th>status equal</th><th>mismatches</th><th>noise</th><th>errors</th><th>p95 baseline</th><th>p95 candidate</th></tr>\n${endpoints}\n</table>`}
${renderEndpointLatencyCharts(run)}
<h2>Top differences</h2>
${run.topDiffs.length === 0 ? '<p class="muted">No differences.</p>' : `<table id="top-diffs"><tr><th>endpoint</th><th>path</th><th>kind</th><th>responses</th><th>example expected</th><th>example actual</th></tr>\n${top}\n</table>`}
<h2>Differences side by side</h2>
${run.samples.length === 0 ? '<p class="muted">No samples.</p>' : `<div id="samples">${run.samples.map(renderSample).join('\n')}</div>`}
<h2>Learned noise</h2>
${run.noise.length === 0 ? '<p class="muted">No noise learned (set compare.learn_noise to learn it).</p>' : `<table id="noise"><tr><th>endpoint</th><th>path</th><th>self-disagreement</th><th>candidate mismatches</th><th>decision</th><th>sample values</th></tr>\n${noise}\n</table>`}
${run.diffsDropped ? `<p class="bad">${run.diffsDropped} diff records were not written to diffs.ndjson (writer buffer full).</p>` : ''}
</body>
</html>
`;
}
