/**
 * The live shadow run as the admin API and reports see it: live gate values
 * over the window, totals since start, drops by reason, bounded diff samples
 * (newest first) and the candidate's outbound differences.
 */
import { mkdir, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { GateEvaluator, WindowedGateEvaluator } from '../gates/gate-evaluator.js';
import type { NoiseLearner } from '../compare/noise.js';
import type { RunsProvider, RunSummaryView } from '../admin/types.js';
import type { ShadowJudge } from './shadow-judge.js';
import type { TeeStats } from './shadow-tee.js';
import { DROP_REASONS, type ShadowDropReason } from './types.js';

export interface ShadowRunOptions {
  id: string;
  startedAt: number;
  primary: string;
  candidate: string;
  secondary: string | undefined;
  windowMs: number;
  windowed: WindowedGateEvaluator;
  total: GateEvaluator;
  judge: ShadowJudge;
  noise: NoiseLearner | undefined;
  tee: () => TeeStats;
  reportDir: string | undefined;
}

export interface ShadowRun extends RunsProvider {
  readonly id: string;
  drop(reason: ShadowDropReason): void;
  drops(): Record<ShadowDropReason, number>;
  /** the run's state as GET /api/runs/:id shows it */
  view(): Record<string, unknown>;
  /** marks the run finished (shutdown) */
  finish(): void;
  /** writes summary.json, diffs.ndjson, junit.xml and report.html into dir (default: the configured one) */
  report(dir?: string): Promise<string>;
}

export function createShadowRun(opts: ShadowRunOptions): ShadowRun {
  const dropCounts = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<ShadowDropReason, number>;
  let finishedAt: number | undefined;

  const status = (): RunSummaryView['status'] => {
    if (finishedAt === undefined) return 'running';
    const v = opts.total.verdict();
    return v === 'pass' ? 'passed' : v === 'fail' ? 'failed' : 'aborted';
  };

  const summary = (): RunSummaryView => ({
    id: opts.id,
    mode: 'shadow',
    status: status(),
    startedAt: new Date(opts.startedAt).toISOString(),
    ...(finishedAt === undefined ? {} : { finishedAt: new Date(finishedAt).toISOString() }),
    primary: opts.primary,
    candidate: opts.candidate,
    judged: opts.judge.judged,
  });

  const view = (): Record<string, unknown> => ({
    ...summary(),
    ...(opts.secondary === undefined ? {} : { secondary: opts.secondary }),
    window: {
      seconds: opts.windowMs / 1000,
      verdict: opts.windowed.verdict(),
      gates: opts.windowed.results(),
      counts: opts.windowed.counts(),
      latency: opts.windowed.latency(),
      cutoff: opts.windowed.cutoff() ?? null,
    },
    total: {
      verdict: opts.total.verdict(),
      gates: opts.total.results(),
      counts: opts.total.counts(),
      latency: opts.total.latency(),
      endpoints: opts.total.endpoints(),
    },
    dropped: { ...dropCounts },
    tee: opts.tee(),
    outbound: opts.judge.outbound(),
    noise: opts.noise?.learned() ?? [],
    diffs: opts.judge.samples(),
  });

  async function report(dir = opts.reportDir): Promise<string> {
    if (dir === undefined) throw new Error('no report directory configured (--report DIR)');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const v = view();
    const samples = opts.judge.samples();
    const write = async (name: string, text: string) => {
      // Whole files only: a reader never sees half a report.
      const tmp = join(dir, `.${name}.tmp`);
      await writeFile(tmp, text, { mode: 0o600 });
      await rename(tmp, join(dir, name));
    };
    const total = v.total as { verdict: string; gates: unknown[]; counts: unknown; latency: unknown; endpoints: unknown[] };
    await write(
      'summary.json',
      `${JSON.stringify(
        {
          run: summary(),
          verdict: total.verdict,
          gates: total.gates,
          counts: total.counts,
          latency: total.latency,
          endpoints: total.endpoints,
          window: v.window,
          dropped: v.dropped,
          outbound: v.outbound,
          noise: v.noise,
          topDiffs: topDiffs(samples),
        },
        null,
        2,
      )}\n`,
    );
    await write('diffs.ndjson', samples.map((s) => JSON.stringify(s)).join('\n') + (samples.length > 0 ? '\n' : ''));
    await write('junit.xml', junit(opts.id, total.gates as GateLike[], total.endpoints as EndpointLike[]));
    await write('report.html', html(opts.id, v, samples));
    return dir;
  }

  return {
    id: opts.id,
    drop(reason) {
      dropCounts[reason]++;
    },
    drops: () => ({ ...dropCounts }),
    view,
    finish() {
      finishedAt ??= Date.now();
    },
    report,
    list: () => [summary()],
    get: (id) => (id === opts.id ? view() : undefined),
    writeReport: (id) => (id === opts.id ? report() : Promise.reject(new Error(`no run ${id}`))),
  };
}

interface GateLike {
  gate: string;
  expression: string;
  value: number | undefined;
  isPassing: boolean;
  note?: string;
}

interface EndpointLike {
  endpoint: string;
  requests: number;
  errors: number;
  bodyMatch: number;
  mismatches: number;
}

function topDiffs(samples: ReadonlyArray<{ endpoint: string; diffs: ReadonlyArray<{ path: string }> }>): Array<{ endpoint: string; path: string; count: number }> {
  const counts = new Map<string, { endpoint: string; path: string; count: number }>();
  for (const s of samples) {
    for (const d of s.diffs) {
      const k = `${s.endpoint}\u0000${d.path}`;
      const c = counts.get(k) ?? { endpoint: s.endpoint, path: d.path, count: 0 };
      c.count++;
      counts.set(k, c);
    }
  }
  return [...counts.values()].sort((a, b) => b.count - a.count).slice(0, 20);
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function junit(runId: string, gates: readonly GateLike[], endpoints: readonly EndpointLike[]): string {
  const cases: string[] = [];
  let failures = 0;
  for (const g of gates) {
    const body = g.isPassing ? '' : `<failure message="${esc(`${g.gate} ${g.expression}: value ${g.value ?? 'none'}${g.note ? ` (${g.note})` : ''}`)}"/>`;
    if (!g.isPassing) failures++;
    cases.push(`    <testcase classname="gates" name="${esc(g.gate)}">${body}</testcase>`);
  }
  for (const e of endpoints) {
    const bad = e.mismatches + e.errors;
    if (bad > 0) failures++;
    const body = bad === 0 ? '' : `<failure message="${esc(`${e.mismatches} mismatch(es), ${e.errors} error(s) in ${e.requests} request(s)`)}"/>`;
    cases.push(`    <testcase classname="endpoints" name="${esc(e.endpoint)}">${body}</testcase>`);
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="doppel shadow ${esc(runId)}">\n  <testsuite name="${esc(runId)}" tests="${cases.length}" failures="${failures}">\n${cases.join('\n')}\n  </testsuite>\n</testsuites>\n`;
}

function html(runId: string, v: Record<string, unknown>, samples: ReadonlyArray<{ endpoint: string; url: string; result: string; diffs: ReadonlyArray<{ path: string; expected?: unknown; actual?: unknown }> }>): string {
  const total = v.total as { verdict: string; gates: GateLike[]; endpoints: EndpointLike[] };
  const outbound = v.outbound as Array<{ message: string }>;
  const gateRows = total.gates.map((g) => `<tr class="${g.isPassing ? 'ok' : 'bad'}"><td>${esc(g.gate)}</td><td>${esc(g.expression)}</td><td>${g.value ?? '-'}</td><td>${g.isPassing ? 'pass' : 'fail'}</td></tr>`).join('');
  const epRows = total.endpoints.map((e) => `<tr><td>${esc(e.endpoint)}</td><td>${e.requests}</td><td>${e.bodyMatch}</td><td>${e.mismatches}</td><td>${e.errors}</td></tr>`).join('');
  const diffRows = samples
    .slice(0, 100)
    .map((s) => `<tr><td>${esc(s.endpoint)}</td><td>${esc(s.url)}</td><td>${esc(s.result)}</td><td><pre>${esc(s.diffs.map((d) => `${d.path}: ${JSON.stringify(d.expected)} -> ${JSON.stringify(d.actual)}`).join('\n'))}</pre></td></tr>`)
    .join('');
  const outRows = outbound.map((o) => `<li>${esc(o.message)}</li>`).join('');
  return `<!doctype html><html><head><meta charset="utf-8"><title>doppel shadow ${esc(runId)}</title><style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}.bad{background:#fdd}.ok{background:#dfd}pre{margin:0;white-space:pre-wrap}</style></head><body>
<h1>doppel shadow ${esc(runId)}: ${esc(total.verdict)}</h1>
<h2>Gates</h2><table><tr><th>gate</th><th>expression</th><th>value</th><th>result</th></tr>${gateRows}</table>
<h2>Endpoints</h2><table><tr><th>endpoint</th><th>requests</th><th>body match</th><th>mismatches</th><th>errors</th></tr>${epRows}</table>
<h2>Outbound calls</h2><ul>${outRows}</ul>
<h2>Diff samples (newest first)</h2><table><tr><th>endpoint</th><th>url</th><th>result</th><th>diffs</th></tr>${diffRows}</table>
</body></html>
`;
}
