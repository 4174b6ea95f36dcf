/**
 * The live shadow run as the admin API and reports see it: live gate values
 * over the window, totals since start, drops by reason, bounded diff samples
 * (newest first) and the candidate's outbound differences. Its report is
 * written by the judge's run report writer, with shadow's own figures beside.
 */
import type { GateEvaluator, WindowedGateEvaluator } from '../gates/gate-evaluator.js';
import type { NoiseLearner } from '../compare/noise.js';
import { runStatusOf, type RunsProvider, type RunSummaryView } from '../judge/run-view.js';
import type { Judge } from '../judge/judge.js';
import type { RunReportWriter } from '../judge/run-report.js';
import type { DiffSample, OutboundSummary } from '../judge/types.js';
import type { TeeStats } from './shadow-tee.js';
import { DROP_REASONS, type ShadowDropReason } from './types.js';

/** What only shadow knows, kept in summary.json beside the common report. */
export interface ShadowReportExtra {
  primary: string;
  candidate: string;
  secondary?: string;
  dropped: Record<ShadowDropReason, number>;
  tee: TeeStats;
  outbound: OutboundSummary[];
}

/** A diff sample as GET /api/runs/:id shows a shadow run's (the comparison's flags are not part of it). */
function sampleView({ flags: _flags, ...rest }: DiffSample): Omit<DiffSample, 'flags'> {
  return rest;
}

export interface ShadowRunOptions {
  id: string;
  startedAt: number;
  primary: string;
  candidate: string;
  secondary: string | undefined;
  windowMs: number;
  windowed: WindowedGateEvaluator;
  total: GateEvaluator;
  judge: Judge;
  noise: NoiseLearner | undefined;
  tee: () => TeeStats;
  /** the report directory's writers; none without --report */
  report: RunReportWriter | undefined;
}

export interface ShadowRun extends RunsProvider {
  readonly id: string;
  drop(reason: ShadowDropReason): void;
  drops(): Record<ShadowDropReason, number>;
  /** the run's state as GET /api/runs/:id shows it */
  view(): Record<string, unknown>;
  /** marks the run finished (shutdown) */
  finish(): void;
  /**
   * Writes summary.json, junit.xml and report.html after flushing diffs.ndjson and
   * results.ndjson (closing them when `isFinal`, at shutdown); resolves to the directory.
   */
  report(isFinal?: boolean): Promise<string>;
}

export function createShadowRun(opts: ShadowRunOptions): ShadowRun {
  const dropCounts = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<ShadowDropReason, number>;
  let finishedAt: number | undefined;

  const status = (): RunSummaryView['status'] => {
    if (finishedAt === undefined) return 'running';
    return runStatusOf(opts.total.verdict());
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
    diffs: opts.judge.samples().map(sampleView),
  });

  async function report(isFinal = false): Promise<string> {
    const out = opts.report;
    if (out === undefined) throw new Error('no report directory configured (--report DIR)');
    const shadow: ShadowReportExtra = {
      primary: opts.primary,
      candidate: opts.candidate,
      ...(opts.secondary === undefined ? {} : { secondary: opts.secondary }),
      dropped: { ...dropCounts },
      tee: opts.tee(),
      outbound: opts.judge.outbound(),
    };
    await out.write(
      {
        runId: opts.id,
        mode: 'shadow',
        startedAt: new Date(opts.startedAt).toISOString(),
        finishedAt: new Date(finishedAt ?? Date.now()).toISOString(),
        verdict: opts.total.verdict(),
        abortReason: opts.total.cutoff(),
        baseline: `live primary ${opts.primary}`,
        target: opts.candidate,
        evaluator: opts.total,
        noise: opts.noise?.learned() ?? [],
      },
      { shadow },
      isFinal,
    );
    return out.dir;
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
    writeReport: (id) => (id === opts.id ? report(false) : Promise.reject(new Error(`no run ${id}`))),
  };
}
