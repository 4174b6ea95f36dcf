/**
 * The shadow run's report directory, through the shared report modules:
 * every mismatch and unanswered copy streams to diffs.ndjson and every judged
 * copy to results.ndjson as it happens (bounded buffers, drops counted); top
 * diffs and side-by-side samples are kept by the diff collector; summary.json,
 * junit.xml and report.html come from writeReport.
 */
import type { CompareOutcome } from '../compare/types.js';
import type { GateEvaluator } from '../gates/gate-evaluator.js';
import type { JudgedRequest } from '../gates/types.js';
import type { LearnedNoise } from '../compare/noise.js';
import { createDiffCollector } from '../report/diff-collector.js';
import { createDiffWriter, createResultsWriter } from '../report/ndjson-writer.js';
import { REPORT_FORMAT_VERSION, type RunReport } from '../report/types.js';
import { writeReport } from '../report/write-report.js';
import type { OutboundSummary } from './shadow-judge.js';
import type { TeeStats } from './shadow-tee.js';
import type { ShadowDropReason } from './types.js';

/** What only shadow knows, kept in summary.json beside the common report. */
export interface ShadowReportExtra {
  primary: string;
  candidate: string;
  secondary?: string;
  dropped: Record<ShadowDropReason, number>;
  tee: TeeStats;
  outbound: OutboundSummary[];
}

export interface ShadowRunReport extends RunReport {
  shadow: ShadowReportExtra;
}

export interface ShadowReportInput {
  runId: string;
  startedAt: number;
  finishedAt: number;
  total: GateEvaluator;
  noise: LearnedNoise[];
  extra: ShadowReportExtra;
}

export interface ShadowReport {
  readonly dir: string;
  /** one judged copy; `bodies` are only read when a sample of the endpoint is still wanted */
  record(j: JudgedRequest, result: 'match' | 'mismatch' | 'noise' | 'error', bodies?: { baseline: Buffer; candidate: Buffer }, error?: string): void;
  /** flushes the streams (closes them once `isFinal`) and writes summary.json, junit.xml, report.html */
  write(input: ShadowReportInput, isFinal: boolean): Promise<ShadowRunReport>;
}

export function createShadowReport(dir: string): ShadowReport {
  const diffs = createDiffWriter(dir);
  const results = createResultsWriter(dir);
  const collector = createDiffCollector();

  return {
    dir,
    record(j, result, bodies, error) {
      const outcome: CompareOutcome | undefined = j.outcome;
      results.write({ exchangeId: j.exchangeId, endpoint: j.endpoint, status: j.candidateStatus, durationMs: j.candidateMs, isMatch: j.isAnswered && outcome?.isMatch === true });
      if (!j.isAnswered) {
        diffs.write({
          exchangeId: j.exchangeId,
          endpoint: j.endpoint,
          result: 'error',
          baselineStatus: j.baselineStatus,
          candidateStatus: undefined,
          diffs: [],
          flags: [],
          ...(error === undefined ? {} : { error }),
        });
        return;
      }
      if (result !== 'mismatch' || outcome === undefined) return;
      diffs.write({
        exchangeId: j.exchangeId,
        endpoint: j.endpoint,
        result: 'mismatch',
        baselineStatus: j.baselineStatus,
        candidateStatus: j.candidateStatus,
        diffs: outcome.diffs,
        ...(outcome.omittedDiffs === undefined ? {} : { omittedDiffs: outcome.omittedDiffs }),
        flags: outcome.flags,
      });
      const subject = { exchangeId: j.exchangeId, endpoint: j.endpoint, baselineStatus: j.baselineStatus, candidateStatus: j.candidateStatus, outcome };
      collector.add(subject, collector.wantsSample(j.endpoint) ? bodies : undefined);
    },
    async write(input, isFinal) {
      await (isFinal ? Promise.all([diffs.close(), results.close()]) : Promise.all([diffs.flush(), results.flush()]));
      const cutoff = input.total.cutoff();
      const report: ShadowRunReport = {
        v: REPORT_FORMAT_VERSION,
        runId: input.runId,
        mode: 'shadow',
        startedAt: new Date(input.startedAt).toISOString(),
        finishedAt: new Date(input.finishedAt).toISOString(),
        verdict: input.total.verdict(),
        ...(cutoff === undefined ? {} : { abortReason: cutoff }),
        baseline: `live primary ${input.extra.primary}`,
        target: input.extra.candidate,
        gates: input.total.results(),
        counts: input.total.counts(),
        latency: input.total.latency(),
        endpoints: input.total.endpoints(),
        noise: input.noise,
        topDiffs: collector.topDiffs(),
        samples: collector.samples(),
        ...(diffs.dropped > 0 ? { diffsDropped: diffs.dropped } : {}),
        shadow: input.extra,
      };
      await writeReport(dir, report);
      return report;
    },
  };
}
