/**
 * Plays one recorded request: sends it to the target, carries captured
 * values into the session, takes noise samples, and hands the pair of the
 * recorded (or baseline-run) answer and the candidate's to the judge;
 * warmup, reachability, cutoff and counting are judged-player.ts's.
 */
import type { NoiseLearner } from '../compare/noise.js';
import type { ResponseSample } from '../compare/types.js';
import { readableBody } from '../core/content-coding.js';
import { decodeBody, type HttpExchange } from '../core/exchange.js';
import { JudgedPlayer, type PlayerJudging } from './judged-player.js';
import { endpointLabel } from '../metrics/route-template.js';
import type { HttpSender, SendOutcome } from './http-sender.js';
import type { ReplayRun } from './replay-run.js';
import { pathOf } from './replay-source.js';
import { buildRequest, type OutgoingRequest, type RequestBuildOptions } from './request-builder.js';
import { applyCaptures, parseJsonLoose, parseResponseJson, substituteJson, substituteUrl, type CompiledCapture, type SessionVars } from './runtime-vars.js';
import type { ScheduledRequest, SessionContext } from './session-scheduler.js';

export interface ReplayPlayerOptions extends PlayerJudging {
  run: ReplayRun;
  target: string;
  sender: HttpSender;
  /** a second baseline instance: noise samples pair the recorded answer with its answer */
  secondary: HttpSender | undefined;
  buildOpts: RequestBuildOptions;
  captures: readonly CompiledCapture[];
  maxBodyBytes: number;
}

/** The recorded response with captured recorded values replaced by the candidate's. */
function substituteRecorded(sample: ResponseSample, vars: SessionVars, maxDecodedBytes: number): ResponseSample {
  let body = sample.body;
  let isDecoded = sample.isDecoded === true;
  const readable = isDecoded ? body : readableBody(body, sample.headers, maxDecodedBytes).body;
  const doc = parseJsonLoose(readable);
  if (doc !== undefined) {
    const r = substituteJson(doc, vars);
    if (r.changed) {
      // compared as decoded from here on: re-encoding only to have the comparator decode again would be waste
      body = Buffer.from(JSON.stringify(r.value));
      isDecoded = true;
    }
  }
  const headers = sample.headers.map(([k, v]): [string, string] => {
    const name = k.toLowerCase();
    return name === 'location' || name === 'content-location' ? [k, substituteUrl(v, vars)] : [k, v];
  });
  return { ...sample, headers, body, ...(isDecoded ? { isDecoded } : {}) };
}

function recordedSample(ex: HttpExchange): ResponseSample | undefined {
  const r = ex.http.response;
  if (r === null) return undefined;
  return { status: r.status, headers: r.headers, body: decodeBody(r.body, r.bodyEncoding), durationMs: ex.durationMs };
}

export class ReplayPlayer extends JudgedPlayer {
  readonly #o: ReplayPlayerOptions;

  constructor(opts: ReplayPlayerOptions) {
    super(opts, opts.run, opts.target, 'requests');
    this.#o = opts;
  }

  async play(req: ScheduledRequest, session: SessionContext): Promise<void> {
    const o = this.#o;
    const ex = req.exchange;
    const method = ex.http.request.method.toUpperCase();
    const url = pathOf(ex.http.request.url);
    const endpoint = endpointLabel(method, url);
    const isWarmup = this.takeWarmup();
    const out = buildRequest(ex, session.vars, o.buildOpts);
    const res = await o.sender.send(out);
    const ep = o.run.endpoint(endpoint);
    const counts = o.run.counts;
    if (!res.ok) {
      if (res.isCancelled) {
        counts.cancelled++;
        return;
      }
      counts.sent++;
      ep.sent++;
      const error = `${res.error.code}: ${res.error.message}`;
      const baselineMs = o.baseline?.get(ex.id)?.durationMs;
      this.countFailure({ id: ex.id, at: o.clock.now(), method, url, endpoint, baselineStatus: ex.http.response?.status ?? 0, baselineMs, error }, isWarmup);
      o.log.debug({ exchangeId: ex.id, endpoint, err: res.error }, 'request failed');
      return;
    }
    counts.sent++;
    ep.sent++;
    this.countAnswered();
    const cand = res.sample;

    if (o.captures.length > 0) {
      const rec = ex.http.response;
      applyCaptures(
        o.captures,
        method,
        url,
        rec === null ? undefined : { headers: rec.headers, json: parseResponseJson(decodeBody(rec.body, rec.bodyEncoding), rec.headers, o.maxBodyBytes) },
        { headers: cand.headers, json: parseResponseJson(cand.body, cand.headers, o.maxBodyBytes) },
        session.vars,
      );
    }
    if (o.noise !== undefined) await this.#learnNoise(o.noise, ex, out, endpoint, res);

    if (isWarmup) {
      counts.warmup++;
      return;
    }
    const baselineMs = o.baseline?.get(ex.id)?.durationMs;
    const recorded = recordedSample(ex);
    if (recorded === undefined) {
      o.metrics.recordDurations(endpoint, cand.durationMs, baselineMs);
      counts.unjudged++;
      return;
    }
    // The baseline's own ids, as the candidate assigned them: a create-then-read flow compares equal.
    const base = session.vars.substitutions.size > 0 ? substituteRecorded(recorded, session.vars, o.maxBodyBytes) : recorded;
    const isKnownMismatch = o.baseline === undefined ? undefined : o.baseline.hasMismatch(ex.id);
    const judged = o.judge.judgeNow({ id: ex.id, at: o.clock.now(), method, url, endpoint, baseline: base, candidate: cand, baselineMs, isKnownMismatch });
    const judgment = judged instanceof Promise ? await judged : judged;
    this.countJudged(endpoint, judgment, isKnownMismatch);
  }

  async #learnNoise(learner: NoiseLearner, ex: HttpExchange, out: OutgoingRequest, endpoint: string, first: SendOutcome & { ok: true }): Promise<void> {
    const o = this.#o;
    // With a secondary (a second baseline instance) the pair is recorded vs secondary, as Diffy pairs
    // primary and secondary; without, the target answers the same request a second time.
    await this.sampleNoise(
      learner,
      endpoint,
      async () => {
        const again = await (o.secondary ?? o.sender).send(out);
        return again.ok ? again.sample : undefined;
      },
      (again) => {
        const base = o.secondary === undefined ? first.sample : recordedSample(ex);
        if (base !== undefined) learner.observe(endpoint, o.comparator.compare(base, again, endpoint));
      },
    );
  }
}
