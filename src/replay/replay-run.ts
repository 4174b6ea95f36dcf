/**
 * The live state of one replay run: counters, per-endpoint figures, the
 * latest gate values and the judge's recent diff samples. The admin API and
 * the progress view read it; only the engine writes it.
 */
import { runStatusOf, type RunStatus } from '../judge/run-view.js';
import type { FieldDiff } from '../compare/types.js';
import type { GateResult, Verdict } from '../gates/types.js';
import type { DiffSample } from '../judge/types.js';

export interface ReplayCounts {
  /** requests sent to the target (warmup included) */
  sent: number;
  /** judged requests whose response matched */
  passed: number;
  /** judged requests whose response did not match */
  failed: number;
  /** requests that got no response (refused, reset, timeout) */
  errors: number;
  /** sent during warmup, not judged */
  warmup: number;
  /** sent but not judged: no recorded response to compare with */
  unjudged: number;
  /** cancelled by a stop */
  cancelled: number;
  /** extra requests sent to learn noise */
  noiseSamples: number;
  /** mismatches the baseline run did not have */
  newMismatches: number;
}

export interface EndpointCounts {
  sent: number;
  passed: number;
  failed: number;
  errors: number;
}

/** A diff sample as GET /api/runs/:id shows a replay run's, oldest first. */
export interface ReplayDiffView {
  exchangeId: string;
  endpoint: string;
  method: string;
  url: string;
  expectedStatus: number;
  actualStatus: number | undefined;
  diffs: FieldDiff[];
  flags: string[];
  at: string;
  /** why the target did not answer */
  error?: string;
}

function diffView(s: DiffSample): ReplayDiffView {
  return {
    exchangeId: s.id,
    endpoint: s.endpoint,
    method: s.method,
    url: s.url,
    expectedStatus: s.baselineStatus,
    actualStatus: s.candidateStatus,
    diffs: s.diffs,
    flags: s.flags,
    at: s.at,
    ...(s.error === undefined ? {} : { error: s.error }),
  };
}

export class ReplayRun {
  readonly id: string;
  readonly target: string;
  readonly startedAt: string;
  readonly counts: ReplayCounts = {
    sent: 0,
    passed: 0,
    failed: 0,
    errors: 0,
    warmup: 0,
    unjudged: 0,
    cancelled: 0,
    noiseSamples: 0,
    newMismatches: 0,
  };
  readonly endpoints = new Map<string, EndpointCounts>();
  /** expected number of requests when known (limit), for ETA */
  expectedTotal: number | undefined;
  /** undefined while running */
  verdict: Verdict | undefined;
  abortReason: string | undefined;
  gates: GateResult[] = [];
  reportDir: string | undefined;
  finishedAt: string | undefined;
  #samples: () => readonly DiffSample[] = () => [];
  readonly #startedMono: number;
  readonly #mono: () => number;

  constructor(id: string, target: string, startedAt: string, mono: () => number) {
    this.id = id;
    this.target = target;
    this.startedAt = startedAt;
    this.#mono = mono;
    this.#startedMono = mono();
  }

  endpoint(name: string): EndpointCounts {
    let e = this.endpoints.get(name);
    if (e === undefined) {
      e = { sent: 0, passed: 0, failed: 0, errors: 0 };
      this.endpoints.set(name, e);
    }
    return e;
  }

  /** where the recent diff samples come from (the judge's ring, newest first) */
  showSamples(samples: () => readonly DiffSample[]): void {
    this.#samples = samples;
  }

  get status(): RunStatus {
    return this.verdict === undefined ? 'running' : runStatusOf(this.verdict);
  }

  get recentDiffs(): ReplayDiffView[] {
    return this.#samples().map(diffView).reverse();
  }

  get elapsedMs(): number {
    return this.#mono() - this.#startedMono;
  }

  /** requests per second sent so far */
  get rate(): number {
    const s = this.elapsedMs / 1000;
    return s > 0 ? this.counts.sent / s : 0;
  }

  summary(): Record<string, unknown> & { id: string; mode: 'replay'; status: RunStatus; startedAt: string } {
    return {
      id: this.id,
      mode: 'replay',
      status: this.status,
      startedAt: this.startedAt,
      ...(this.finishedAt === undefined ? {} : { finishedAt: this.finishedAt }),
      target: this.target,
      counts: { ...this.counts },
      rate: Math.round(this.rate * 10) / 10,
      ...(this.abortReason === undefined ? {} : { abortReason: this.abortReason }),
    };
  }

  detail(): Record<string, unknown> {
    return {
      ...this.summary(),
      gates: this.gates,
      endpoints: Object.fromEntries(this.endpoints),
      diffSamples: this.recentDiffs,
      ...(this.reportDir === undefined ? {} : { report: this.reportDir }),
    };
  }
}
