/**
 * What the replay engine needs from the judge (compare, gates, report),
 * declared narrowly so the engine does not depend on how the judge is built.
 * `defaultJudgePorts` (judge-adapter.ts) binds them to doppel's modules.
 */
import type { Comparator, ResponseSample } from '../compare/types.js';
import type { GateResult, JudgedRequest, MockCounts } from '../gates/types.js';
import type { CompareConfig, CutoffsConfig } from '../config/schema.js';
import type { Metrics } from '../metrics/metrics.js';
import type { DiffSample, LiveRun } from './live-run.js';

export interface GateEvaluatorPort {
  record(j: JudgedRequest): void;
  setMockCounts(c: MockCounts): void;
  results(): GateResult[];
  /** a reason when a cutoff fired */
  cutoff(): string | undefined;
}

export interface NoiseLearnerPort {
  /** two responses of the same build to the same request */
  observe(endpoint: string, first: ResponseSample, second: ResponseSample): void;
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
  run: LiveRun;
  verdict: 'passed' | 'failed' | 'aborted';
  gates: GateResult[];
  mockCounts: MockCounts | undefined;
  achievedRate: number;
  targetRate: number | undefined;
  hasBaselineRun: boolean;
}

/** Every judged request, for per-request report data (durations, mismatch). */
export interface JudgedRecord {
  judged: JudgedRequest;
  method: string;
  url: string;
}

export interface ReportSinkPort {
  /** every judged request, in judging order */
  record(r: JudgedRecord): void;
  /** every mismatch */
  diff(d: DiffSample): void;
  /** writes the report files; resolves to the directory */
  finish(input: ReplayReportInput): Promise<string>;
}

export interface JudgePorts {
  createComparator(cfg: CompareConfig, noise: NoiseLearnerPort | undefined): Comparator;
  createNoiseLearner(cfg: CompareConfig): NoiseLearnerPort | undefined;
  createGateEvaluator(opts: { gates: Readonly<Record<string, string>>; cutoffs: CutoffsConfig; hasLatencyBaseline: boolean }): GateEvaluatorPort;
  exportGates(metrics: Metrics, runId: string, results: readonly GateResult[]): void;
  readBaselineReport(dir: string): Promise<BaselineLookup>;
  createReportSink(dir: string, runId: string): Promise<ReportSinkPort>;
}
