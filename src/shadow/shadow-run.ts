/**
 * The live shadow run as the admin API and reports see it: live gate values
 * over the window, totals since start, drops by reason, bounded diff samples
 * (newest first) and the candidate's outbound differences. Its report is
 * written through the shared report modules (shadow-report.ts).
 */
import type { GateEvaluator, WindowedGateEvaluator } from '../gates/gate-evaluator.js';
import type { NoiseLearner } from '../compare/noise.js';
import type { RunsProvider, RunSummaryView } from '../admin/types.js';
import type { ShadowJudge } from './shadow-judge.js';
import type { ShadowReport } from './shadow-report.js';
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
  /** the report directory's writers; none without --report */
  report: ShadowReport | undefined;
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

  async function report(isFinal = false): Promise<string> {
    const out = opts.report;
    if (out === undefined) throw new Error('no report directory configured (--report DIR)');
    await out.write(
      {
        runId: opts.id,
        startedAt: opts.startedAt,
        finishedAt: finishedAt ?? Date.now(),
        total: opts.total,
        noise: opts.noise?.learned() ?? [],
        extra: {
          primary: opts.primary,
          candidate: opts.candidate,
          ...(opts.secondary === undefined ? {} : { secondary: opts.secondary }),
          dropped: { ...dropCounts },
          tee: opts.tee(),
          outbound: opts.judge.outbound(),
        },
      },
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
