/**
 * What a replay driver is given and what it returns, alike for HTTP
 * (run-replay.ts) and gRPC (grpc-replay.ts).
 */
import type { Clock } from '../core/clock.js';
import type { ExitCode } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { TargetTls } from '../core/tls.js';
import type { CutoffsConfig } from '../config/schema.js';
import type { ResolvedCompare, ResolvedReplay } from '../config/resolve.js';
import type { GateResult, MockCounts, RunCounts, Verdict } from '../gates/types.js';
import type { Metrics } from '../metrics/metrics.js';
import type { ExchangeReader } from '../store/types.js';
import type { ReplayCounts, ReplayRun } from './replay-run.js';
import type { ShareChange } from './run-share.js';
import type { Coordinator } from './coordinate/types.js';

export interface MockCountsSource {
  start(): Promise<void>;
  delta(): Promise<MockCounts>;
}

export interface ReplayOptions {
  /** defaults to replay.run_id, else a fresh id */
  runId?: string;
  /**
   * `sessions.key` of the configuration. A header, cookie or JWT claim key groups
   * exchanges recorded one session per exchange (recorded without that key) by
   * the recorded request, so the sessions the configuration names replay in order.
   */
  sessionKey?: string;
  replay: Readonly<ResolvedReplay>;
  /** replay.target_tls read by the caller (paths resolved against its working directory); read here when absent */
  targetTls?: TargetTls | undefined;
  compare: Readonly<ResolvedCompare>;
  gates: Readonly<Record<string, string>>;
  cutoffs: Readonly<CutoffsConfig>;
  /** environment for {{env.NAME}} */
  vars: Readonly<Record<string, string | undefined>>;
  /** stops sending; the report is still written and the run counts as aborted */
  signal?: AbortSignal;
  /** reads traffic from here instead of replay.traffic directories */
  reader?: ExchangeReader;
  /** in-process mock counts; else replay.mock_admin URLs are asked */
  mockCounts?: MockCountsSource;
  /** bearer token for replay.mock_admin URLs */
  adminToken?: string;
  /** prints what would be sent and sends nothing */
  dryRun?: (line: string) => void;
  /**
   * joins a run shared by several workers (coordinate/): sessions come from the coordinator, rate
   * and concurrency are split across the live workers, and the last worker writes the merged report
   */
  coordination?: { coordinator: Coordinator; pollMs: number; isLoadOnly?: boolean };
}

export interface ReplayDeps {
  log: Logger;
  metrics: Metrics;
  clock: Clock;
  /** called once the run exists (admin API, progress view) */
  observe?: (run: ReplayRun) => void;
}

/** The whole run as the reporting worker merged it: what every worker judged, each session once. */
export interface MergedRun {
  workers: number;
  sessions: number;
  resent: number;
  counts: RunCounts;
}

export interface ReplayResult {
  runId: string;
  verdict: Verdict;
  exitCode: ExitCode;
  abortReason: string | undefined;
  gates: GateResult[];
  counts: ReplayCounts;
  reportDir: string | undefined;
  /**
   * coordinated runs: whether this worker wrote the merged report, the sessions it sent again, and
   * its share of the run's rate and concurrency each time the live workers changed (the first at start)
   */
  shard?: { isReporter: boolean; resent: number; shares: ShareChange[]; worker: string; run?: MergedRun };
  /** requests per second actually sent */
  achievedRate: number;
  /** pairs compared in the judge's worker threads (over replay.judge_inline_bytes), off the sending loop */
  judgedOffLoop: number;
  /** --rate when given */
  targetRate: number | undefined;
  /** share of the target rate not reached (0 when reached) */
  rateShortfall: number | undefined;
  schedule: { lagP50Ms: number; lagP99Ms: number; lagMaxMs: number; maxBuffered: number };
  mockCounts: MockCounts | undefined;
}
