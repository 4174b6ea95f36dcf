/**
 * Shadow's side of the judge: the comparator, the noise learner fed by the
 * secondary, a windowed gate evaluator (live values) and a cumulative one
 * (the report), the worker pool for large pairs, the report directory's
 * writer and the judge over them; the drop counter every shadow step
 * counts into; and the run they feed, whose gates are exported every second
 * and which ends with a report. HTTP and gRPC shadowing share all of it.
 */
import { availableParallelism } from 'node:os';
import type { Counter } from 'prom-client';
import { createComparator } from '../compare/comparator.js';
import { createNoiseLearner, type NoiseLearner } from '../compare/noise.js';
import type { CutoffsConfig } from '../config/schema.js';
import type { ResolvedCompare, ResolvedShadow } from '../config/resolve.js';
import type { Logger } from '../core/logger.js';
import { createGateEvaluator, createWindowedGateEvaluator, type GateEvaluator, type WindowedGateEvaluator } from '../gates/gate-evaluator.js';
import { createRunMetrics, type RunMetrics } from '../gates/run-metrics.js';
import { createJudgePool, type JudgePool } from '../judge/judge-pool.js';
import { createJudge, type Judge } from '../judge/judge.js';
import { createRunReportWriter, type RunReportWriter } from '../judge/run-report.js';
import type { Metrics } from '../metrics/metrics.js';
import { createShadowRun, type ShadowRun } from './shadow-run.js';
import type { TeeStats } from './shadow-tee.js';
import type { ShadowDropReason } from './types.js';

export interface ShadowJudgingOptions {
  shadow: Readonly<ResolvedShadow>;
  compare: Readonly<ResolvedCompare>;
  gates: Readonly<Record<string, string>>;
  cutoffs: Readonly<CutoffsConfig>;
  runId: string;
  now: () => number;
  metrics: Metrics;
  drop: (reason: ShadowDropReason) => void;
  log: Logger;
}

export interface ShadowJudging {
  readonly noise: NoiseLearner | undefined;
  readonly windowed: WindowedGateEvaluator;
  readonly total: GateEvaluator;
  readonly runMetrics: RunMetrics;
  readonly pool: JudgePool;
  readonly report: RunReportWriter | undefined;
  readonly judge: Judge;
}

export function createShadowJudging(opts: ShadowJudgingOptions): ShadowJudging {
  const cfg = opts.shadow;
  const comparator = createComparator(opts.compare);
  const noise: NoiseLearner | undefined =
    cfg.secondary === undefined ? undefined : createNoiseLearner({ samplesPerEndpoint: opts.compare.learn_noise > 0 ? opts.compare.learn_noise : 50, confidence: opts.compare.noise_confidence });
  const windowed = createWindowedGateEvaluator({ gates: opts.gates, cutoffs: opts.cutoffs, hasLatencyBaseline: true, windowMs: cfg.window_ms, now: opts.now });
  const total = createGateEvaluator({ gates: opts.gates, cutoffs: opts.cutoffs, hasLatencyBaseline: true });
  const runMetrics = createRunMetrics(opts.metrics, opts.runId, 'shadow');
  const pool = createJudgePool({ compare: opts.compare, workers: Math.min(cfg.judge_workers, Math.max(1, availableParallelism() - 1)), maxQueued: cfg.judge_queue_items, log: opts.log });
  // Opened at start: diffs.ndjson and results.ndjson stream from the first copy on, and a bad directory fails the start.
  const report = cfg.report === undefined ? undefined : createRunReportWriter(cfg.report, { maxDecodedBytes: opts.compare.max_body_bytes });
  const judge = createJudge({
    comparator,
    pool,
    inlineMaxBytes: cfg.judge_inline_bytes,
    noise,
    evaluators: [windowed, total],
    metrics: runMetrics,
    onSaturated: () => opts.drop('judge_saturated'),
    maxSamples: cfg.diff_samples,
    report,
    log: opts.log,
  });
  return { noise, windowed, total, runMetrics, pool, report, judge };
}

/**
 * doppel_shadow_dropped_total{reason} and the run's own counts. One labelled child per
 * reason, looked up once: a drop is counted on most requests when a candidate lags.
 */
export function createDropCounter(metric: Counter<'reason'>, also: (reason: ShadowDropReason) => void): (reason: ShadowDropReason) => void {
  const byReason = new Map<ShadowDropReason, { inc(): void }>();
  return (reason) => {
    let child = byReason.get(reason);
    if (child === undefined) {
      child = metric.labels({ reason });
      byReason.set(reason, child);
    }
    child.inc();
    also(reason);
  };
}

/** What the HTTP and gRPC tees are given alike: the judge, which copies the secondary answers too, the bounds of the queue and the drop counter. */
export function teeJudgingOf(judging: ShadowJudging, cfg: Readonly<ResolvedShadow>, drop: (reason: ShadowDropReason) => void, log: Logger) {
  const noise = judging.noise;
  return {
    wantsSecondary: noise === undefined ? undefined : (endpoint: string) => noise.wantsSample(endpoint),
    judge: judging.judge,
    queueItems: cfg.queue_items,
    maxQueueWaitMs: cfg.queue_wait_ms,
    maxInFlight: cfg.max_in_flight,
    drop,
    log,
  };
}

export interface ShadowRunOf {
  shadow: Readonly<ResolvedShadow>;
  runId: string;
  now: () => number;
  tee: { stats(): TeeStats };
  log: Logger;
}

export interface StartedShadowRun {
  readonly run: ShadowRun;
  /** stops the gate export of a start that failed */
  stopExport(): void;
  /** the last gate values for the last scrape, the run's end and its report; the tee is drained first */
  finish(): Promise<void>;
}

/** The run judged copies count into, with its gates exported every second from now on. */
export function startShadowRun(judging: ShadowJudging, o: ShadowRunOf): StartedShadowRun {
  const cfg = o.shadow;
  const run = createShadowRun({
    id: o.runId,
    startedAt: o.now(),
    primary: cfg.primary as string,
    candidate: cfg.candidate as string,
    secondary: cfg.secondary,
    windowMs: cfg.window_ms,
    windowed: judging.windowed,
    total: judging.total,
    judge: judging.judge,
    noise: judging.noise,
    tee: () => o.tee.stats(),
    report: judging.report,
  });
  const exportGates = () => judging.runMetrics.exportGates(judging.windowed.results());
  exportGates();
  const exporter = setInterval(exportGates, 1000);
  exporter.unref();
  return {
    run,
    stopExport: () => clearInterval(exporter),
    async finish() {
      clearInterval(exporter);
      exportGates();
      run.finish();
      if (cfg.report !== undefined) {
        try {
          await run.report(true);
        } catch (err) {
          o.log.error({ err }, 'report not written');
        }
      }
      o.log.info({ runId: o.runId, judged: judging.judge.judged, dropped: run.drops() }, 'shadow stopped');
    },
  };
}
