/**
 * The shadow run's report directory, through the shared report modules:
 * every mismatch and unanswered copy streams to diffs.ndjson and every judged
 * copy to results.ndjson as it happens (bounded buffers, drops counted); top
 * diffs and side-by-side samples are kept by the diff collector; summary.json,
 * junit.xml and report.html come from writeReport.
 */
import type { GateEvaluator } from '../gates/gate-evaluator.js';
import type { JudgedRequest } from '../gates/types.js';
import type { LearnedNoise } from '../compare/noise.js';
import { createJudgedStreams, type SampleBodies } from '../report/judged-streams.js';
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
  record(j: JudgedRequest, result: 'match' | 'mismatch' | 'noise' | 'error', bodies?: SampleBodies, error?: string): void;
  /** flushes the streams (closes them once `isFinal`) and writes summary.json, junit.xml, report.html */
  write(input: ShadowReportInput, isFinal: boolean): Promise<ShadowRunReport>;
}

export function createShadowReport(dir: string, opts: { maxDecodedBytes?: number } = {}): ShadowReport {
  const streams = createJudgedStreams(dir, opts);

  return {
    dir,
    record(j, result, bodies, error) {
      streams.record(j, result === 'mismatch', bodies, error);
    },
    async write(input, isFinal) {
      await (isFinal ? streams.close() : streams.flush());
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
        topDiffs: streams.collector.topDiffs(),
        samples: streams.collector.samples(),
        ...(streams.diffsDropped > 0 ? { diffsDropped: streams.diffsDropped } : {}),
        shadow: input.extra,
      };
      await writeReport(dir, report);
      return report;
    },
  };
}
