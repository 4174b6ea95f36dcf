/**
 * What the replay engine needs from the judge (compare, gates, report),
 * declared narrowly so the engine does not depend on how the judge is built.
 * `defaultJudgePorts` (judge-adapter.ts) binds them to doppel's modules.
 */
import type { Comparator, CompareOutcome, FieldCounts, ResponseSample } from '../compare/types.js';
import type { GateResult, JudgedRequest, MockCounts } from '../gates/types.js';
import type { CompareConfig, CutoffsConfig } from '../config/schema.js';
import type { Metrics } from '../metrics/metrics.js';
import type { LearnedNoise } from '../compare/noise.js';
import type { ReplayRun } from './replay-run.js';

/** The judge's side of the metric contract for one run. */
export interface RunMetricsPort {
  recordComparison(endpoint: string, result: 'match' | 'mismatch' | 'noise', fields: FieldCounts, flags?: readonly string[]): void;
  recordDurations(endpoint: string, candidateMs: number | undefined, baselineMs: number | undefined): void;
  recordReplayResult(endpoint: string, result: 'pass' | 'fail' | 'error'): void;
}

export interface GateEvaluatorPort {
  record(j: JudgedRequest): void;
  setMockCounts(c: MockCounts): void;
  results(): GateResult[];
  /** a reason when a cutoff fired */
  cutoff(): string | undefined;
}

export interface NoiseLearnerPort {
  /** true while the endpoint still wants self-comparison samples */
  wantsSample(endpoint: string): boolean;
  /** the comparison of two responses of the same build to the same request */
  observe(endpoint: string, selfOutcome: CompareOutcome): void;
  /** what was learned, for the report */
  learned(): LearnedNoise[];
  /** the candidate outcome with learned noise taken out */
  judge(endpoint: string, outcome: CompareOutcome): { result: 'match' | 'mismatch' | 'noise'; outcome: CompareOutcome };
}

/** One exchange of an earlier baseline run, paired by exchange id. */
export interface BaselineEntry {
  durationMs: number | undefined;
  isMismatch: boolean;
}

export interface BaselineLookup {
  get(exchangeId: string): BaselineEntry | undefined;
}

/** What a finished (or live) run hands to the report writer. */
export interface ReplayReportInput {
  run: ReplayRun;
  verdict: 'passed' | 'failed' | 'aborted';
  gates: GateResult[];
  mockCounts: MockCounts | undefined;
  achievedRate: number;
  targetRate: number | undefined;
  /** --baseline DIR when the candidate was paired with a baseline run */
  baselineDir: string | undefined;
}

/** Every judged request, for per-request report data (durations, mismatch, diffs). */
export interface JudgedRecord {
  judged: JudgedRequest;
  method: string;
  url: string;
  /** both responses as received, for side-by-side samples of mismatches (shown decoded) */
  bodies?: { baseline: ResponseSample; candidate: ResponseSample };
  /** why the candidate did not answer */
  error?: string;
}

export interface ReportSinkPort {
  /** every judged request, in judging order */
  record(r: JudgedRecord): void;
  /** writes the report files; resolves to the directory */
  finish(input: ReplayReportInput): Promise<string>;
}

export interface JudgePorts {
  createComparator(cfg: CompareConfig): Comparator;
  createNoiseLearner(cfg: CompareConfig): NoiseLearnerPort | undefined;
  createGateEvaluator(opts: { gates: Readonly<Record<string, string>>; cutoffs: CutoffsConfig; hasLatencyBaseline: boolean }): GateEvaluatorPort;
  exportGates(metrics: Metrics, runId: string, results: readonly GateResult[]): void;
  createRunMetrics(metrics: Metrics, runId: string): RunMetricsPort;
  readBaselineReport(dir: string): Promise<BaselineLookup>;
  createReportSink(
    dir: string,
    runId: string,
    judges: { evaluator: GateEvaluatorPort; noise: NoiseLearnerPort | undefined; maxDecodedBytes?: number },
  ): Promise<ReportSinkPort>;
}
