/**
 * What the HTTP and gRPC replay drivers do alike from the first exchange
 * sent to the result: play the schedule with the gates exported and the mock
 * counts read around it, end the run with its verdict, write the report and
 * reckon the figures of the result (rate, schedule lag, exit code).
 */
import type { NoiseLearner } from '../compare/noise.js';
import type { Clock } from '../core/clock.js';
import { ExitCode } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { GateEvaluator } from '../gates/gate-evaluator.js';
import type { RunMetrics } from '../gates/run-metrics.js';
import type { GateResult, MockCounts, Verdict } from '../gates/types.js';
import type { RunReportWriter } from '../judge/run-report.js';
import { startGateExport, type JudgedPlayer } from './judged-player.js';
import type { MockCountsSource, ReplayResult } from './replay-options.js';
import type { ReplayRun } from './replay-run.js';
import type { SchedulerStats } from './session-scheduler.js';

export interface SchedulePlay {
  player: JudgedPlayer;
  run: ReplayRun;
  /** the gates judged, exported to the metrics; also told the mock counts */
  judging: { evaluator: GateEvaluator; runMetrics: RunMetrics };
  mockSource: MockCountsSource | undefined;
  log: Logger;
  /** runs the schedule once the mock counts are started */
  schedule(): Promise<SchedulerStats>;
  /** closes what the schedule used (senders, stop, pools), whether it ended or threw */
  release(): Promise<void>;
}

/** Plays the schedule; the gates are exported every second meanwhile, and once more with the last judgment. */
export async function playSchedule(p: SchedulePlay): Promise<{ stats: SchedulerStats; mockCounts: MockCounts | undefined }> {
  let mockCounts: MockCounts | undefined;
  const gateExport = startGateExport(p.player, p.run, p.judging.evaluator, p.judging.runMetrics);
  let stats: SchedulerStats;
  try {
    if (p.mockSource !== undefined) await p.mockSource.start();
    stats = await p.schedule();
    p.player.abortIfNoneAnswered();
    if (p.mockSource !== undefined) {
      try {
        mockCounts = await p.mockSource.delta();
        p.judging.evaluator.addMockCounts(mockCounts);
      } catch (err) {
        p.log.warn({ err }, 'could not read mock counts at the end of the run');
      }
    }
  } finally {
    gateExport.stop();
    await p.release();
  }
  p.player.isGatesDirty = true;
  gateExport.exportNow();
  return { stats, mockCounts };
}

/**
 * Ends the run with its verdict: aborted, else fail when a gate fails. A
 * worker's share of a distributed run (`isShare`) does not judge the run's
 * gates: the worker that writes the merged report does.
 */
export function endReplayRun(run: ReplayRun, abortReason: string | undefined, gates: readonly GateResult[], isShare: boolean, clock: Clock): ReplayEnd {
  const verdict: Verdict = abortReason !== undefined ? 'aborted' : !isShare && gates.some((g) => !g.isPassing) ? 'fail' : 'pass';
  const finishedAt = new Date(clock.now()).toISOString();
  run.verdict = verdict;
  run.abortReason = abortReason;
  run.finishedAt = finishedAt;
  return { verdict, abortReason, finishedAt };
}

export interface ReplayEnd {
  verdict: Verdict;
  abortReason: string | undefined;
  finishedAt: string;
}

/** What the candidate's answers were compared with, as the report names it. */
export function baselineNameOf(baselineDir: string | undefined): string {
  return baselineDir === undefined ? 'recorded responses' : `baseline run ${baselineDir}`;
}

export async function writeReplayReport(
  report: RunReportWriter,
  run: ReplayRun,
  end: ReplayEnd,
  o: { baselineDir: string | undefined; evaluator: GateEvaluator; noise: NoiseLearner | undefined },
): Promise<void> {
  await report.write(
    {
      runId: run.id,
      mode: 'replay',
      startedAt: run.startedAt,
      finishedAt: end.finishedAt,
      verdict: end.verdict,
      abortReason: end.abortReason,
      baseline: baselineNameOf(o.baselineDir),
      target: run.target,
      evaluator: o.evaluator,
      noise: o.noise?.learned() ?? [],
    },
    {},
    true,
  );
}

export interface ReplayResultOf {
  run: ReplayRun;
  end: ReplayEnd;
  gates: GateResult[];
  reportDir: string | undefined;
  shard?: ReplayResult['shard'];
  judgedOffLoop: number;
  /** --rate when given */
  targetRate: number | undefined;
  stats: SchedulerStats;
  mockCounts: MockCounts | undefined;
}

export function replayResultOf(r: ReplayResultOf): ReplayResult {
  const { run, stats, targetRate } = r;
  const elapsedS = stats.elapsedMs / 1000;
  const achievedRate = elapsedS > 0 ? run.counts.sent / elapsedS : 0;
  let rateShortfall: number | undefined;
  if (targetRate !== undefined) {
    // Rate over the span the schedule asked for: a run cut short by a stop is not a shortfall.
    const wanted = stats.started > 1 ? ((stats.started - 1) * 1000) / targetRate : 0;
    const took = stats.elapsedMs;
    rateShortfall = wanted > 0 && took > wanted ? 1 - wanted / took : 0;
  }
  return {
    runId: run.id,
    verdict: r.end.verdict,
    exitCode: r.end.verdict === 'aborted' ? ExitCode.aborted : r.end.verdict === 'fail' ? ExitCode.gateFailed : ExitCode.ok,
    abortReason: r.end.abortReason,
    gates: r.gates,
    counts: { ...run.counts },
    reportDir: r.reportDir,
    ...(r.shard === undefined ? {} : { shard: r.shard }),
    achievedRate,
    judgedOffLoop: r.judgedOffLoop,
    targetRate,
    rateShortfall,
    schedule: { lagP50Ms: stats.lag.quantile(0.5), lagP99Ms: stats.lag.quantile(0.99), lagMaxMs: stats.lag.max, maxBuffered: stats.maxBuffered },
    mockCounts: r.mockCounts,
  };
}
