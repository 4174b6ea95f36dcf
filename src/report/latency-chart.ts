/**
 * Latency as a picture in report.html: the baseline and candidate duration
 * distributions drawn as two cumulative curves (share of requests at or below
 * a latency, on a log latency axis), one chart for the run and one per
 * endpoint. Inline SVG built from the bounded quantile points the report
 * carries (Percentiles.cdf), so the page stays one file with no fetch and no
 * script.
 */
import type { Percentiles } from '../gates/types.js';
import { escapeHtml as e } from './escape-html.js';
import type { RunReport } from './types.js';

const W = 520;
const H = 280;
const LEFT = 60;
const RIGHT = 32;
const TOP = 34;
const BOTTOM = 50;
const PW = W - LEFT - RIGHT;
const PH = H - TOP - BOTTOM;
const SIDES = ['baseline', 'candidate'] as const;
type Side = (typeof SIDES)[number];

export const LATENCY_CHART_STYLE = `
.latency-charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:12px;max-width:1200px}
figure.latency-chart{margin:8px 0;border:1px solid var(--border);border-radius:6px;padding:8px;max-width:560px}
figure.latency-chart figcaption{margin-bottom:4px}figure.latency-chart svg{width:100%;height:auto;display:block}
.latency-chart .grid{stroke:#eaeef2}.latency-chart .axis{stroke:#6e7781}
.latency-chart text{font:11px system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;fill:#1f2328}.latency-chart text.axis-label{font-weight:600}
.latency-chart .series{fill:none;stroke-width:2}.latency-chart .series.baseline{stroke:#0969da;stroke-dasharray:6 3}.latency-chart .series.candidate{stroke:#bc4c00}
.latency-chart circle.baseline{fill:#0969da}.latency-chart circle.candidate{fill:#bc4c00}
`;

function fmtMs(v: number): string {
  if (v >= 1000) return `${Number((v / 1000).toPrecision(3))} s`;
  return `${Number(v.toPrecision(3))} ms`;
}

/** The 1-2-5 ladder (…, 0.5, 1, 2, 5, 10, …) around `v`: the step at or below it, or at or above it. */
function ladder(v: number, up: boolean): number {
  const k = Math.floor(Math.log10(v));
  const steps = [1, 2, 5, 10].map((m) => Number((m * 10 ** k).toPrecision(1)));
  return up ? (steps.find((s) => s >= v * 0.999999) as number) : (steps.filter((s) => s <= v * 1.000001).pop() as number);
}

/** Log-scale latency domain covering every point, its ends on the 1-2-5 ladder. */
function domainOf(points: ReadonlyArray<readonly [number, number]>): { lo: number; hi: number } {
  let min = Infinity;
  let max = 0;
  for (const [, ms] of points) {
    if (ms > 0 && ms < min) min = ms;
    if (ms > max) max = ms;
  }
  if (!Number.isFinite(min)) min = max > 0 ? max : 1;
  const lo = ladder(min, false);
  let hi = ladder(Math.max(max, min), true);
  if (hi <= lo) hi = ladder(lo * 1.5, true);
  return { lo, hi };
}

/** Ladder ticks over a span of a few decades, decades only over a wider one. */
function xTicks(lo: number, hi: number): number[] {
  const first = Math.floor(Math.log10(lo));
  const last = Math.ceil(Math.log10(hi));
  const mult = last - first <= 3 ? [1, 2, 5] : [1];
  const out: number[] = [];
  for (let k = first; k <= last; k++) {
    for (const m of mult) {
      const v = Number((m * 10 ** k).toPrecision(1));
      if (v >= lo * 0.999999 && v <= hi * 1.000001) out.push(v);
    }
  }
  return out;
}

function svgChart(id: string, label: string, sides: Record<Side, Percentiles>): string {
  const drawn = SIDES.filter((s) => (sides[s].cdf?.length ?? 0) > 0);
  const { lo, hi } = domainOf(drawn.flatMap((s) => sides[s].cdf ?? []));
  const span = Math.log10(hi) - Math.log10(lo);
  const x = (ms: number) => LEFT + ((Math.log10(Math.max(ms, lo)) - Math.log10(lo)) / span) * PW;
  const y = (q: number) => TOP + (1 - q) * PH;
  const f = (n: number) => n.toFixed(1);
  const parts: string[] = [];
  for (const v of xTicks(lo, hi)) {
    parts.push(`<line class="grid" x1="${f(x(v))}" y1="${TOP}" x2="${f(x(v))}" y2="${TOP + PH}"/>`);
    parts.push(`<text class="tick x-tick" x="${f(x(v))}" y="${TOP + PH + 14}" text-anchor="middle">${e(fmtMs(v))}</text>`);
  }
  for (const q of [0, 0.25, 0.5, 0.75, 1]) {
    parts.push(`<line class="grid" x1="${LEFT}" y1="${f(y(q))}" x2="${LEFT + PW}" y2="${f(y(q))}"/>`);
    parts.push(`<text class="tick y-tick" x="${LEFT - 6}" y="${f(y(q) + 4)}" text-anchor="end">${q * 100}%</text>`);
  }
  parts.push(`<line class="axis" x1="${LEFT}" y1="${TOP + PH}" x2="${LEFT + PW}" y2="${TOP + PH}"/>`);
  parts.push(`<line class="axis" x1="${LEFT}" y1="${TOP}" x2="${LEFT}" y2="${TOP + PH}"/>`);
  parts.push(`<text class="axis-label x-label" x="${LEFT + PW / 2}" y="${H - 8}" text-anchor="middle">latency (ms, log scale)</text>`);
  parts.push(
    `<text class="axis-label y-label" x="${-(TOP + PH / 2)}" y="14" transform="rotate(-90)" text-anchor="middle">requests at or below</text>`,
  );
  for (const side of drawn) {
    const cdf = sides[side].cdf ?? [];
    parts.push(`<polyline class="series ${side}" data-side="${side}" points="${cdf.map(([q, ms]) => `${f(x(ms))},${f(y(q))}`).join(' ')}"/>`);
    for (const [q, ms] of cdf) {
      parts.push(`<circle class="${side}" cx="${f(x(ms))}" cy="${f(y(q))}" r="2"><title>${side} p${Number((q * 100).toPrecision(4))}: ${e(fmtMs(ms))}</title></circle>`);
    }
  }
  SIDES.forEach((side, i) => {
    const lx = LEFT + i * 200;
    const p = sides[side];
    parts.push(`<line class="series ${side} legend" x1="${lx}" y1="14" x2="${lx + 24}" y2="14"/>`);
    parts.push(`<text class="legend ${side}" x="${lx + 30}" y="18">${side} (n=${p.count}${drawn.includes(side) ? '' : ', no durations'})</text>`);
  });
  return `<svg id="${id}" role="img" aria-labelledby="${id}-title" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}"><title id="${id}-title">Latency distribution, ${e(label)}: baseline vs candidate</title>${parts.join('')}</svg>`;
}

function figure(id: string, label: string, caption: string, sides: Record<Side, Percentiles>, endpoint?: string): string {
  const hasData = SIDES.some((s) => (sides[s].cdf?.length ?? 0) > 0);
  const body = hasData ? svgChart(id, label, sides) : '<p class="muted">No durations to draw.</p>';
  return `<figure class="latency-chart"${endpoint === undefined ? '' : ` data-endpoint="${e(endpoint)}"`}><figcaption>${caption}</figcaption>${body}</figure>`;
}

/** The run's chart: paired durations when the run has them (what latency gates judge), else all. */
export function renderRunLatencyChart(run: RunReport): string {
  const L = run.latency;
  const isPaired = L.paired.baseline.count > 0 && L.paired.candidate.count > 0;
  const label = isPaired ? 'paired requests' : 'all requests';
  const sides = isPaired ? L.paired : { baseline: L.baseline, candidate: L.candidate };
  return `<div id="run-latency">${figure('latency-chart-run', label, `Whole run, ${label}`, sides)}</div>`;
}

/** One chart per endpoint, in the order of the endpoint table. */
export function renderEndpointLatencyCharts(run: RunReport): string {
  if (run.endpoints.length === 0) return '';
  const figures = run.endpoints.map((ep, i) => figure(`latency-chart-ep-${i}`, ep.endpoint, `<code>${e(ep.endpoint)}</code>`, ep.latency, ep.endpoint));
  return `<h2>Latency by endpoint</h2>\n<div id="endpoint-latency" class="latency-charts">${figures.join('\n')}</div>`;
}
