/**
 * What HTTP and gRPC replay do alike around one played exchange: warmup,
 * reachability (a target that answers nothing aborts the run), the cutoff,
 * noise samples claimed per endpoint, counting a judged pair for the run, its
 * endpoint and the replay metric, and exporting the gates every second while
 * judgments come in. The players (replay-player.ts, grpc-call-player.ts) add
 * only how their protocol sends and lifts a pair.
 */
import type { NoiseLearner } from '../compare/noise.js';
import type { Comparator } from '../compare/types.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { GateEvaluator } from '../gates/gate-evaluator.js';
import type { RunMetrics } from '../gates/run-metrics.js';
import type { Judge, Judgment } from '../judge/judge.js';
import type { UnansweredPair } from '../judge/types.js';
import type { BaselineReport } from '../report/baseline-report.js';
import type { ReplayRun } from './replay-run.js';
import type { ReplayStop } from './replay-stop.js';

/** What an HTTP and a gRPC player are given alike: how to judge, count, gate and stop. */
export interface PlayerJudging {
  /** requests sent first and not judged */
  warmup: number;
  /** consecutive failures with nothing answered after which the target counts as unreachable */
  unreachableAfter: number;
  judge: Judge;
  comparator: Comparator;
  noise: NoiseLearner | undefined;
  /** self-comparison samples wanted per endpoint */
  noiseSamples: number;
  evaluator: GateEvaluator;
  metrics: RunMetrics;
  baseline: BaselineReport | undefined;
  stop: ReplayStop;
  clock: Clock;
  log: Logger;
}

/** The state a player keeps across the exchanges it plays, and the steps that read it. */
export abstract class JudgedPlayer {
  readonly #judging: PlayerJudging;
  readonly #run: ReplayRun;
  readonly #target: string;
  /** what one exchange is called in an abort reason: "requests", "calls" */
  readonly #noun: string;
  #warmupLeft: number;
  #answered = 0;
  #consecutiveErrors = 0;
  #lastError: string | undefined;
  /** Samples started per endpoint: sessions run in parallel, so the learner's own count lags behind. */
  readonly #noiseStarted = new Map<string, number>();
  /** set when a judgment changed the gate values since they were last exported */
  isGatesDirty = false;

  protected constructor(judging: PlayerJudging, run: ReplayRun, target: string, noun: string) {
    this.#judging = judging;
    this.#run = run;
    this.#target = target;
    this.#noun = noun;
    this.#warmupLeft = judging.warmup;
  }

  get answered(): number {
    return this.#answered;
  }

  get lastError(): string | undefined {
    return this.#lastError;
  }

  /** After the schedule: a run in which every exchange failed aborts, naming the target. */
  abortIfNoneAnswered(): void {
    const errors = this.#run.counts.errors;
    if (this.#answered === 0 && errors > 0) {
      this.#judging.stop.abort(`target unreachable: ${errors} ${this.#noun} to ${this.#target} failed, none answered (${this.#lastError ?? 'error'})`);
    }
  }

  /** Whether this exchange is one of the warmup ones, which are sent but not judged. */
  protected takeWarmup(): boolean {
    const isWarmup = this.#warmupLeft > 0;
    if (isWarmup) this.#warmupLeft--;
    return isWarmup;
  }

  protected countAnswered(): void {
    this.#answered++;
    this.#consecutiveErrors = 0;
  }

  /** An exchange the target did not answer: counted and judged as an error (after warmup), and a step towards unreachable. */
  protected countFailure(pair: UnansweredPair, isWarmup: boolean): void {
    const o = this.#judging;
    const { error, endpoint } = pair;
    this.#run.counts.errors++;
    this.#run.endpoint(endpoint).errors++;
    this.#consecutiveErrors++;
    this.#lastError = error;
    o.metrics.recordReplayResult(endpoint, 'error');
    if (!isWarmup) {
      o.judge.unanswered(pair);
      this.isGatesDirty = true;
      this.#checkCutoff();
    }
    const n = this.#consecutiveErrors;
    const noun = this.#noun;
    if (this.#answered === 0 && n >= o.unreachableAfter) {
      o.stop.abort(`target unreachable: ${n} ${noun} to ${this.#target} failed, none answered (${error})`);
    } else if (n >= o.unreachableAfter * 5) {
      o.stop.abort(`target unreachable: ${n} consecutive ${noun} to ${this.#target} failed (${error})`);
    }
  }

  /** Counts a judged pair (nothing when the judge left it unjudged) and checks the cutoff. */
  protected countJudged(endpoint: string, judgment: Judgment | undefined, isKnownMismatch: boolean | undefined): void {
    if (judgment === undefined) return;
    this.isGatesDirty = true;
    const run = this.#run;
    const metrics = this.#judging.metrics;
    const counts = run.counts;
    const ep = run.endpoint(endpoint);
    if (judgment.outcome.isMatch) {
      counts.passed++;
      ep.passed++;
      metrics.recordReplayResult(endpoint, 'pass');
    } else {
      counts.failed++;
      ep.failed++;
      metrics.recordReplayResult(endpoint, 'fail');
      if (isKnownMismatch === false) counts.newMismatches++;
    }
    this.#checkCutoff();
  }

  /**
   * Takes one noise sample for the endpoint while the learner wants more:
   * `sendAgain` asks for the second answer (undefined when none came, which
   * gives the sample back), `observe` feeds the pair to the learner.
   */
  protected async sampleNoise<A>(learner: NoiseLearner, endpoint: string, sendAgain: () => Promise<A | undefined>, observe: (again: A) => void): Promise<void> {
    const started = this.#noiseStarted.get(endpoint) ?? 0;
    if (started >= this.#judging.noiseSamples || !learner.wantsSample(endpoint)) return;
    this.#noiseStarted.set(endpoint, started + 1);
    const again = await sendAgain();
    if (again === undefined) {
      this.#noiseStarted.set(endpoint, (this.#noiseStarted.get(endpoint) ?? 1) - 1);
      return;
    }
    this.#run.counts.noiseSamples++;
    observe(again);
  }

  #checkCutoff(): void {
    const reason = this.#judging.evaluator.cutoff();
    if (reason !== undefined) this.#judging.stop.abort(`cutoff: ${reason}`);
  }
}

export interface GateExport {
  /** exports the gates now if a judgment came in since the last export */
  exportNow(): void;
  stop(): void;
}

export function startGateExport(player: { isGatesDirty: boolean }, run: ReplayRun, evaluator: GateEvaluator, metrics: RunMetrics): GateExport {
  const exportNow = () => {
    if (!player.isGatesDirty) return;
    player.isGatesDirty = false;
    run.gates = evaluator.results();
    metrics.exportGates(run.gates);
  };
  const timer = setInterval(exportNow, 1000);
  timer.unref();
  return { exportNow, stop: () => clearInterval(timer) };
}
