/**
 * Progress of a replay run for a person: a bar on a TTY (cli-progress), a
 * plain line every few seconds otherwise, and the final verdict block.
 */
import type { Writable } from 'node:stream';
import cliProgress from 'cli-progress';
import { runStatusOf } from '../judge/run-view.js';
import type { GateResult } from '../gates/types.js';
import type { ReplayRun } from './replay-run.js';
import type { ReplayResult } from './run-replay.js';

export interface ProgressView {
  stop(): void;
}

export interface ProgressViewOptions {
  stream: Writable & { isTTY?: boolean };
  /** plain lines this often when not a TTY */
  intervalMs?: number;
}

function formatEta(run: ReplayRun): string {
  const total = run.expectedTotal;
  const rate = run.rate;
  if (total === undefined || rate <= 0) return '-';
  const s = Math.max(0, (total - run.counts.sent) / rate);
  if (s < 60) return `${Math.round(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.round((s % 3600) / 60)).padStart(2, '0')}m`;
}

function payload(run: ReplayRun): Record<string, string | number> {
  const c = run.counts;
  return { passed: c.passed, failed: c.failed, errors: c.errors, rps: run.rate.toFixed(1), etaText: formatEta(run) };
}

/**
 * The bar's stream, minus the cursor save (ESC 7) cli-progress writes at start
 * and the restore (ESC 8) at stop: log lines printed above the bar meanwhile
 * would be overwritten by whatever follows the restore. Without them the bar
 * simply ends on its own line.
 */
function withoutCursorRestore(stream: Writable & { isTTY?: boolean }): Writable {
  const write = (chunk: unknown, ...rest: unknown[]): boolean =>
    chunk === '\x1b7' || chunk === '\x1b8' ? true : (stream.write as (...a: unknown[]) => boolean)(chunk, ...rest);
  return Object.create(stream, { write: { value: write } }) as Writable;
}

export function startProgressView(run: ReplayRun, opts: ProgressViewOptions): ProgressView {
  if (opts.stream.isTTY === true) {
    const bar = new cliProgress.SingleBar(
      {
        stream: withoutCursorRestore(opts.stream),
        format: 'replay |{bar}| {value}/{total} sent | {passed} pass {failed} fail {errors} err | {rps} rps | ETA {etaText}',
        hideCursor: true,
        clearOnComplete: false,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(run.expectedTotal ?? 0, 0, payload(run));
    const timer = setInterval(() => {
      if (run.expectedTotal !== undefined && run.expectedTotal > 0) bar.setTotal(Math.max(run.expectedTotal, run.counts.sent));
      else bar.setTotal(run.counts.sent);
      bar.update(run.counts.sent, payload(run));
    }, 200);
    timer.unref();
    return {
      stop() {
        clearInterval(timer);
        bar.update(run.counts.sent, payload(run));
        bar.stop();
      },
    };
  }
  const line = () => {
    const c = run.counts;
    const total = run.expectedTotal === undefined ? '' : `/${run.expectedTotal}`;
    opts.stream.write(
      `replay ${run.id}: sent ${c.sent}${total}, passed ${c.passed}, failed ${c.failed}, errors ${c.errors}, ${run.rate.toFixed(1)} rps, ETA ${formatEta(run)}\n`,
    );
  };
  const timer = setInterval(line, opts.intervalMs ?? 5000);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
    },
  };
}

function formatValue(g: GateResult): string {
  if (g.value === undefined) return '-';
  if (/_delta$/.test(g.gate)) return `${g.value >= 0 ? '+' : ''}${(g.value * 100).toFixed(1)}%`;
  if (Number.isInteger(g.value)) return String(g.value);
  return g.value.toFixed(4);
}

function fmtRate(r: number): string {
  return Number.isInteger(r) ? String(r) : r.toFixed(1);
}

/** The block printed to stdout at the end: verdict, counts, gate table, report path. */
export function formatVerdict(result: ReplayResult): string {
  const lines: string[] = [];
  // Printed in the past tense, as the admin API spells a finished run. A worker that does not
  // write the merged report has no verdict of its own to give: it says its share is done.
  const isShareOnly = result.shard !== undefined && !result.shard.isReporter;
  const head = isShareOnly && result.verdict !== 'aborted' ? `worker ${result.shard?.worker ?? ''} done with its share` : runStatusOf(result.verdict).toUpperCase();
  lines.push(`doppel replay ${result.runId}: ${head}${result.abortReason === undefined ? '' : ` (${result.abortReason})`}`);
  const c = result.counts;
  const merged = result.shard?.run;
  if (merged !== undefined) {
    // The reporting worker speaks for the run: every worker's requests, each session judged once.
    const m = merged.counts;
    lines.push(
      `  all ${merged.workers} workers: judged ${m.requests}  passed ${m.answered - m.mismatches}  failed ${m.mismatches}  errors ${m.errors}  sessions ${merged.sessions}` +
        (merged.resent > 0 ? `  re-sent ${merged.resent}` : ''),
    );
  }
  lines.push(
    (result.shard === undefined ? '' : `  worker ${result.shard.worker}:`) +
    `  sent ${c.sent}  passed ${c.passed}  failed ${c.failed}  errors ${c.errors}` +
      (c.warmup > 0 ? `  warmup ${c.warmup}` : '') +
      (c.unjudged > 0 ? `  unjudged ${c.unjudged}` : '') +
      (c.newMismatches > 0 ? `  new mismatches ${c.newMismatches}` : ''),
  );
  let rate = `  rate ${result.achievedRate.toFixed(1)} rps`;
  const shares = result.shard?.shares ?? [];
  const last = shares[shares.length - 1];
  if (result.targetRate !== undefined) {
    const short = result.rateShortfall ?? 0;
    const whose = shares.length === 1 && last !== undefined && last.liveWorkers > 1 ? `its share of the run's ${fmtRate((last.rate ?? 0) * last.liveWorkers)} rps: ` : 'target ';
    rate += ` (${whose}${fmtRate(result.targetRate)} rps${short > 0.01 ? `, ${(short * 100).toFixed(0)}% short` : ', reached'})`;
  } else if (last?.rate !== undefined) {
    rate += ` (a share of the run's ${fmtRate(last.rate * last.liveWorkers)} rps, recomputed as workers joined or left)`;
  }
  lines.push(rate);
  if (isShareOnly) {
    lines.push('  gates: judged over the whole run by the worker that writes the merged report');
  } else if (result.gates.length > 0) {
    const rows = result.gates.map((g) => [g.gate, formatValue(g), g.expression, g.isPassing ? 'pass' : 'FAIL', g.note ?? '']);
    const header = ['gate', 'value', 'threshold', 'result', ''];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
    const fmt = (r: string[]) => `  ${r.map((v, i) => v.padEnd(widths[i] as number)).join('  ').trimEnd()}`;
    lines.push(fmt(header));
    for (const r of rows) lines.push(fmt(r));
  } else {
    lines.push('  no quality gates configured');
  }
  if (result.reportDir !== undefined) lines.push(`  report: ${result.reportDir}`);
  return lines.join('\n') + '\n';
}
