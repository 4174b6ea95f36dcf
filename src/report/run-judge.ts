/**
 * The judge of one run, composed from its parts: comparator, noise learner,
 * gate evaluator, metrics, diff and result streams, and the report. Replay
 * and shadow hand it pairs of responses; it answers match/mismatch/noise and
 * keeps everything the report needs within fixed bounds.
 */
import type { CompareConfig, CutoffsConfig } from '../config/schema.js';
import { DoppelError } from '../core/errors.js';
import type { Metrics } from '../metrics/metrics.js';
import { createComparator } from '../compare/comparator.js';
import { createNoiseLearner, type NoiseLearner } from '../compare/noise.js';
import type { CompareOutcome, Comparator, ResponseSample } from '../compare/types.js';
import { checkGatesNeedBaseline, createGateEvaluator, type GateEvaluator } from '../gates/gate-evaluator.js';
import { createRunMetrics, type CompareResult } from '../gates/run-metrics.js';
import type { GateResult, JudgedRequest, MockCounts } from '../gates/types.js';
import type { BaselineReport } from './baseline-report.js';
import { createDiffCollector } from './diff-collector.js';
import { createDiffWriter, createResultsWriter, type NdjsonWriter } from './ndjson-writer.js';
import { REPORT_FORMAT_VERSION, type DiffRecord, type ResultRecord, type RunMode, type RunReport } from './types.js';
import { writeReport } from './write-report.js';

export interface RunJudgeOptions {
  runId: string;
  mode: RunMode;
  compare: CompareConfig;
  gates: Readonly<Record<string, string>>;
  cutoffs: Readonly<CutoffsConfig>;
  metrics: Metrics;
  /** report directory; no files are written without one */
  reportDir?: string;
  /** an earlier run of the baseline build (--baseline DIR): paired durations and known mismatches */
  baselineRun?: BaselineReport;
  /** the baseline is a live primary (shadow): its durations pair with the candidate's */
  hasLivePrimary?: boolean;
  target?: string;
  now?: () => Date;
}

export interface JudgeInput {
  exchangeId: string;
  /** route template, e.g. from endpointLabel() */
  endpoint: string;
  baseline: ResponseSample;
  /** undefined when the candidate did not answer */
  candidate: ResponseSample | undefined;
  /** why the candidate did not answer */
  error?: string;
}

export type JudgeResult = CompareResult | 'error';

export interface RunJudge {
  readonly comparator: Comparator;
  readonly noise: NoiseLearner | undefined;
  /** true while the endpoint wants a self-comparison (send its request to the baseline twice) */
  wantsNoiseSample(endpoint: string): boolean;
  /** two answers of the baseline (or baseline and secondary) to the same request */
  observeNoise(endpoint: string, first: ResponseSample, second: ResponseSample): void;
  judge(input: JudgeInput): { result: JudgeResult; outcome: CompareOutcome | undefined };
  addMockCounts(delta: MockCounts): void;
  observeMockCounts(cumulative: MockCounts): void;
  /** a cutoff reason once one fired: the caller stops sending and finishes with it */
  cutoff(): string | undefined;
  results(): GateResult[];
  /** the report as it stands (admin API) */
  snapshot(): RunReport;
  /** closes the streams, exports the gates and writes the report directory */
  finish(opts?: { abortReason?: string }): Promise<RunReport>;
}

/** Gates exported to metrics after this many judged requests, so dashboards follow a run. */
const EXPORT_EVERY = 50;

export function createRunJudge(opts: RunJudgeOptions): RunJudge {
  const hasLatencyBaseline = opts.baselineRun !== undefined || opts.hasLivePrimary === true;
  const problems = checkGatesNeedBaseline(opts.gates, hasLatencyBaseline);
  if (problems.length > 0) throw new DoppelError('DOPPEL_CONFIG_INVALID', 'latency gates need a baseline', { details: problems });
  const now = opts.now ?? (() => new Date());
  const startedAt = now().toISOString();
  const comparator = createComparator(opts.compare);
  const noise = opts.compare.learn_noise > 0 ? createNoiseLearner({ samplesPerEndpoint: opts.compare.learn_noise, confidence: opts.compare.noise_confidence }) : undefined;
  const gates: GateEvaluator = createGateEvaluator({ gates: opts.gates, cutoffs: opts.cutoffs, hasLatencyBaseline });
  const runMetrics = createRunMetrics(opts.metrics, opts.runId, opts.mode);
  const collector = createDiffCollector();
  const diffs: NdjsonWriter<DiffRecord> | undefined = opts.reportDir === undefined ? undefined : createDiffWriter(opts.reportDir);
  const resultsOut: NdjsonWriter<ResultRecord> | undefined = opts.reportDir === undefined ? undefined : createResultsWriter(opts.reportDir);
  let judged = 0;
  let finished: RunReport | undefined;

  const baselineLabel = opts.hasLivePrimary === true ? 'live primary' : opts.baselineRun !== undefined ? `baseline run ${opts.baselineRun.dir}` : 'recorded responses';

  const snapshot = (abortReason?: string): RunReport => {
    const cutoff = abortReason ?? gates.cutoff();
    const results = gates.results();
    const report: RunReport = {
      v: REPORT_FORMAT_VERSION,
      runId: opts.runId,
      mode: opts.mode,
      startedAt,
      finishedAt: now().toISOString(),
      verdict: cutoff !== undefined ? 'aborted' : results.every((r) => r.isPassing) ? 'pass' : 'fail',
      baseline: baselineLabel,
      gates: results,
      counts: gates.counts(),
      latency: gates.latency(),
      endpoints: gates.endpoints(),
      noise: noise?.learned() ?? [],
      topDiffs: collector.topDiffs(),
      samples: collector.samples(),
    };
    if (cutoff !== undefined) report.abortReason = cutoff;
    if (opts.target !== undefined) report.target = opts.target;
    if (diffs !== undefined && diffs.dropped > 0) report.diffsDropped = diffs.dropped;
    return report;
  };

  return {
    comparator,
    noise,
    wantsNoiseSample: (endpoint) => noise?.wantsSample(endpoint) ?? false,
    observeNoise(endpoint, first, second) {
      noise?.observe(endpoint, comparator.compare(first, second, endpoint));
    },

    judge(input) {
      const base = opts.baselineRun?.get(input.exchangeId);
      const baselineMs = opts.hasLivePrimary === true ? input.baseline.durationMs : base?.durationMs;
      const isKnownMismatch = opts.baselineRun?.hasMismatch(input.exchangeId) ?? false;
      const candidateMs = input.candidate?.durationMs;
      let result: JudgeResult;
      let outcome: CompareOutcome | undefined;
      if (input.candidate === undefined) {
        result = 'error';
        runMetrics.recordDurations(input.endpoint, undefined, baselineMs);
        if (opts.mode === 'replay') runMetrics.recordReplayResult(input.endpoint, 'error');
        const record: DiffRecord = {
          exchangeId: input.exchangeId,
          endpoint: input.endpoint,
          result: 'error',
          baselineStatus: input.baseline.status,
          candidateStatus: undefined,
          diffs: [],
          flags: [],
        };
        if (input.error !== undefined) record.error = input.error;
        diffs?.write(record);
      } else {
        outcome = comparator.compare(input.baseline, input.candidate, input.endpoint);
        result = outcome.isMatch ? 'match' : 'mismatch';
        if (noise !== undefined) {
          const n = noise.judge(input.endpoint, outcome);
          result = n.result;
          outcome = n.outcome;
        }
        runMetrics.recordComparison(input.endpoint, result, outcome.fields);
        runMetrics.recordDurations(input.endpoint, candidateMs, baselineMs);
        if (opts.mode === 'replay') runMetrics.recordReplayResult(input.endpoint, outcome.isMatch ? 'pass' : 'fail');
        if (!outcome.isMatch) {
          const record: DiffRecord = {
            exchangeId: input.exchangeId,
            endpoint: input.endpoint,
            result: 'mismatch',
            baselineStatus: input.baseline.status,
            candidateStatus: input.candidate.status,
            diffs: outcome.diffs,
            flags: outcome.flags,
          };
          if (outcome.omittedDiffs !== undefined) record.omittedDiffs = outcome.omittedDiffs;
          if (isKnownMismatch) record.isKnownMismatch = true;
          diffs?.write(record);
          const subject = { exchangeId: input.exchangeId, endpoint: input.endpoint, baselineStatus: input.baseline.status, candidateStatus: input.candidate.status, outcome };
          if (collector.wantsSample(input.endpoint)) collector.add(subject, { baseline: input.baseline.body, candidate: input.candidate.body });
          else collector.add(subject);
        }
      }
      const j: JudgedRequest = {
        exchangeId: input.exchangeId,
        endpoint: input.endpoint,
        isAnswered: input.candidate !== undefined,
        candidateStatus: input.candidate?.status,
        baselineStatus: input.baseline.status,
        outcome,
        candidateMs,
        baselineMs,
        isKnownMismatch,
        isNoise: result === 'noise',
      };
      gates.record(j);
      resultsOut?.write({ exchangeId: input.exchangeId, endpoint: input.endpoint, status: input.candidate?.status, durationMs: candidateMs, isMatch: outcome?.isMatch ?? false });
      judged++;
      if (judged % EXPORT_EVERY === 0) runMetrics.exportGates(gates.results());
      return { result, outcome };
    },

    addMockCounts: (d) => gates.addMockCounts(d),
    observeMockCounts: (c) => gates.observeMockCounts(c),
    cutoff: () => gates.cutoff(),
    results: () => gates.results(),
    snapshot: () => finished ?? snapshot(),

    async finish(finishOpts = {}) {
      if (finished !== undefined) return finished;
      await diffs?.close();
      await resultsOut?.close();
      const report = snapshot(finishOpts.abortReason);
      runMetrics.exportGates(report.gates);
      if (opts.reportDir !== undefined) await writeReport(opts.reportDir, report);
      finished = report;
      return report;
    },
  };
}
