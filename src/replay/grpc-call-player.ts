/**
 * Plays one recorded gRPC call: sends it to the target (replay.headers set
 * over the recorded metadata), takes noise samples, and hands the pair of
 * the recorded answer and the candidate's to the judge, with the baseline
 * run's duration and mismatch when there is one. The gRPC side of
 * replay-player.ts: warmup, counters, cutoff and reachability watch are the
 * ones both players inherit from judged-player.ts.
 */
import type { NoiseLearner } from '../compare/noise.js';
import type { GrpcExchange, GrpcResponseRecord, HeaderPairs } from '../core/exchange.js';
import { JudgedPlayer, type PlayerJudging } from './judged-player.js';
import { grpcSamples } from '../judge/grpc-pair.js';
import type { GrpcDescriptors } from '../protocols/grpc/descriptors.js';
import { grpcEndpoint } from '../protocols/grpc/grpc-exchange.js';
import type { GrpcSender } from '../protocols/grpc/grpc-sender.js';
import type { ReplayRun } from './replay-run.js';
import { expandTemplates, type TemplateEnv } from './runtime-vars.js';

export interface GrpcCallPlayerOptions extends PlayerJudging {
  run: ReplayRun;
  target: string;
  sender: GrpcSender;
  /** a second baseline instance: noise samples pair the recorded answer with its answer */
  secondary: GrpcSender | undefined;
  /** replay.headers: set over the recorded metadata of every call, {{...}} expanded per call */
  headers: ReadonlyArray<readonly [string, string]>;
  env: TemplateEnv;
  descriptors: GrpcDescriptors | undefined;
  ignoredHeaders: ReadonlySet<string>;
}

export class GrpcCallPlayer extends JudgedPlayer {
  readonly #o: GrpcCallPlayerOptions;
  readonly #overridden: ReadonlySet<string>;

  constructor(opts: GrpcCallPlayerOptions) {
    super(opts, opts.run, opts.target, 'calls');
    this.#o = opts;
    this.#overridden = new Set(opts.headers.map(([k]) => k.toLowerCase()));
  }

  #metadataOf(ex: GrpcExchange): HeaderPairs {
    const o = this.#o;
    if (o.headers.length === 0) return ex.grpc.request.metadata;
    const out: HeaderPairs = ex.grpc.request.metadata.filter(([k]) => !this.#overridden.has(k.toLowerCase()));
    for (const [k, v] of o.headers) out.push([k.toLowerCase(), expandTemplates(v, o.env, undefined)]);
    return out;
  }

  async play(ex: GrpcExchange): Promise<void> {
    const o = this.#o;
    const endpoint = grpcEndpoint(ex);
    const isWarmup = this.takeWarmup();
    const metadata = this.#metadataOf(ex);
    const res = await o.sender.send(ex, metadata);
    const ep = o.run.endpoint(endpoint);
    const counts = o.run.counts;
    counts.sent++;
    ep.sent++;
    const subject = { id: ex.id, at: o.clock.now(), method: 'POST', url: endpoint, endpoint };
    const baselineMs = o.baseline?.get(ex.id)?.durationMs;
    if (!res.ok) {
      this.countFailure({ ...subject, baselineStatus: ex.grpc.response?.status ?? -1, baselineMs, error: `${res.error.code}: ${res.error.message}` }, isWarmup);
      return;
    }
    this.countAnswered();
    const recorded = ex.grpc.response;
    if (o.noise !== undefined) await this.#learnNoise(o.noise, ex, metadata, endpoint, res.response);
    if (isWarmup) {
      counts.warmup++;
      return;
    }
    if (recorded === null) {
      counts.unjudged++;
      o.metrics.recordDurations(endpoint, res.durationMs, baselineMs);
      return;
    }
    const s = grpcSamples(endpoint, { response: recorded }, { response: res.response, durationMs: res.durationMs }, o.descriptors, o.ignoredHeaders);
    const isKnownMismatch = o.baseline === undefined ? undefined : o.baseline.hasMismatch(ex.id);
    const judgment = await o.judge.judge({ ...subject, baseline: s.baseline, candidate: s.candidate, baselineMs, isKnownMismatch, extraDiffs: s.extraDiffs, extraFlags: s.flags });
    this.countJudged(endpoint, judgment, isKnownMismatch);
  }

  async #learnNoise(learner: NoiseLearner, ex: GrpcExchange, metadata: HeaderPairs, endpoint: string, first: GrpcResponseRecord): Promise<void> {
    const o = this.#o;
    // As for HTTP: with a secondary the pair is recorded vs secondary (Diffy's primary and secondary),
    // without one the target answers the same call a second time.
    await this.sampleNoise(
      learner,
      endpoint,
      async () => {
        const again = await (o.secondary ?? o.sender).send(ex, metadata);
        return again.ok ? again.response : undefined;
      },
      (again) => {
        const base = o.secondary === undefined ? first : ex.grpc.response;
        if (base === null) return;
        const s = grpcSamples(endpoint, { response: base }, { response: again }, o.descriptors, o.ignoredHeaders);
        learner.observe(endpoint, o.comparator.compare(s.baseline, s.candidate, endpoint));
      },
    );
  }
}
