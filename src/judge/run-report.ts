/**
 * A run's report directory, one builder for replay and shadow: every judged
 * request streams to results.ndjson and every mismatch and unanswered request
 * to diffs.ndjson as it happens (bounded buffers, drops counted); top diffs
 * and side-by-side samples are kept by the diff collector; summary.json,
 * junit.xml and report.html come from writeReport with the evaluator's totals.
 */
import type { LearnedNoise } from '../compare/noise.js';
import type { GateEvaluator } from '../gates/gate-evaluator.js';
import type { JudgedRequest, RunMode, Verdict } from '../gates/types.js';
import { createJudgedStreams, type SampleBodies } from '../report/judged-streams.js';
import { REPORT_FORMAT_VERSION, type RunReport } from '../report/types.js';
import { writeReport } from '../report/write-report.js';

/** What the caller knows of the run besides the evaluator's totals. */
export interface RunReportInput {
  runId: string;
  mode: RunMode;
  /** ISO times */
  startedAt: string;
  finishedAt: string;
  verdict: Verdict;
  abortReason: string | undefined;
  /** what the candidate was judged against: "recorded responses", "baseline run DIR", "live primary URL" */
  baseline: string;
  target: string;
  /** the cumulative evaluator: gates, counts, latency and endpoints of the whole run */
  evaluator: GateEvaluator;
  noise: LearnedNoise[];
}

export interface RunReportWriter {
  readonly dir: string;
  /** one judged request; `bodies` are only read when a sample of the endpoint is still wanted */
  record(j: JudgedRequest, isMismatch: boolean, bodies?: SampleBodies, error?: string): void;
  /**
   * Flushes the streams (closes them once `isFinal`) and writes summary.json, junit.xml and
   * report.html; `extra` is kept in summary.json after the common fields (shadow's figures).
   */
  write<E extends object>(input: RunReportInput, extra: E, isFinal: boolean): Promise<RunReport & E>;
}

export function createRunReportWriter(dir: string, opts: { maxDecodedBytes?: number } = {}): RunReportWriter {
  const streams = createJudgedStreams(dir, opts);
  return {
    dir,
    record(j, isMismatch, bodies, error) {
      streams.record(j, isMismatch, bodies, error);
    },
    async write(input, extra, isFinal) {
      await (isFinal ? streams.close() : streams.flush());
      const ev = input.evaluator;
      const report = {
        v: REPORT_FORMAT_VERSION,
        runId: input.runId,
        mode: input.mode,
        startedAt: input.startedAt,
        finishedAt: input.finishedAt,
        verdict: input.verdict,
        ...(input.abortReason === undefined ? {} : { abortReason: input.abortReason }),
        baseline: input.baseline,
        target: input.target,
        gates: ev.results(),
        counts: ev.counts(),
        latency: ev.latency(),
        endpoints: ev.endpoints(),
        noise: input.noise,
        topDiffs: streams.collector.topDiffs(),
        samples: streams.collector.samples(),
        ...(streams.diffsDropped > 0 ? { diffsDropped: streams.diffsDropped } : {}),
        ...extra,
      } satisfies RunReport;
      await writeReport(dir, report);
      return report;
    },
  };
}
