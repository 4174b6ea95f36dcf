/**
 * The gRPC tee: the sink of the gRPC capture server in front of the primary.
 * The capture relays the primary's frames as they come and offers the call
 * here only once the primary's client has its whole answer, so nothing in
 * this file is on the primary's path. `offer` only checks and enqueues; a
 * pump sends the same call (metadata and messages) to the candidate with at
 * most shadow.max_in_flight calls open, each cancelled at shadow.timeout (and
 * to the secondary while noise learning wants samples), and hands the pair to
 * the one judge through judge/grpc-pair.ts. What does not
 * fit is dropped and counted in doppel_shadow_dropped_total{reason}.
 */
import type { ExchangeSink } from '../capture/exchange-sink.js';
import type { RecordDecision } from '../capture/record-filter.js';
import { BoundedQueue } from '../core/bounded-queue.js';
import { isGrpcExchange, type Exchange, type GrpcExchange } from '../core/exchange.js';
import type { Logger } from '../core/logger.js';
import { grpcSamples } from '../judge/grpc-pair.js';
import type { Judge } from '../judge/judge.js';
import type { GrpcDescriptors } from '../protocols/grpc/descriptors.js';
import { grpcEndpoint } from '../protocols/grpc/grpc-exchange.js';
import type { GrpcSender } from '../protocols/grpc/grpc-sender.js';
import { JudgeLane } from './judge-lane.js';
import type { TeeStats } from './shadow-tee.js';
import type { ShadowDropReason } from './types.js';
import { IdleWaiters } from './wait-idle.js';

export interface GrpcTeeOptions {
  candidate: GrpcSender;
  /** a second primary instance: its answers teach the judge's noise learner */
  secondary?: GrpcSender | undefined;
  /** true when the secondary should get this endpoint's copy (noise learning wants samples) */
  wantsSecondary?: ((endpoint: string) => boolean) | undefined;
  judge: Judge;
  descriptors: GrpcDescriptors | undefined;
  /** header rules of compare.ignore (`header:grpc-message`, ...) */
  ignoredHeaders: ReadonlySet<string>;
  /** include/exclude (on `/package.Service/Method`) and sample */
  decide: (method: string, url: string) => RecordDecision;
  queueItems: number;
  /** a copy that waited longer for a slot is dropped as queue_full: it would reach the candidate late */
  maxQueueWaitMs: number;
  maxInFlight: number;
  drop: (reason: ShadowDropReason) => void;
  log: Logger;
}

export interface GrpcTee extends ExchangeSink {
  stats(): TeeStats;
  /** stops taking copies, lets queued and in-flight ones finish up to the deadline, drops the rest */
  drain(deadlineMs: number): Promise<void>;
}

interface Queued {
  readonly ex: GrpcExchange;
  readonly at: number;
}

export function createGrpcTee(opts: GrpcTeeOptions): GrpcTee {
  const queue = new BoundedQueue<Queued>(opts.queueItems);
  const lane = new JudgeLane();
  const log = opts.log.child({ component: 'grpc-shadow-tee' });
  const st = { maxQueued: 0, maxInFlight: 0, offered: 0, sent: 0, answered: 0 };
  let inFlight = 0;
  let judging = 0;
  let isClosing = false;
  let isScheduled = false;
  const idle = new IdleWaiters(() => queue.length === 0 && inFlight === 0 && judging === 0);
  const checkIdle = (): void => idle.check();

  const schedule = (): void => {
    if (isScheduled) return;
    isScheduled = true;
    // Sending starts on a later turn: the primary's stream finishes its tick untouched.
    setImmediate(pump);
  };

  const release = (): void => {
    inFlight--;
    if (queue.length > 0) schedule();
    checkIdle();
  };

  function send(ex: GrpcExchange): void {
    const endpoint = grpcEndpoint(ex);
    const primary = ex.grpc.response as NonNullable<GrpcExchange['grpc']['response']>;
    const subject = { id: ex.id, at: Date.parse(ex.startedAt), method: 'POST', url: endpoint, endpoint };
    st.sent++;
    const secondary = opts.secondary !== undefined && (opts.wantsSecondary?.(endpoint) ?? true) ? opts.secondary.send(ex) : undefined;
    Promise.all([opts.candidate.send(ex), secondary]).then(
      ([res, sec]) => {
        if (!res.ok) {
          opts.drop(res.error.code === 'TIMEOUT' ? 'candidate_timeout' : 'candidate_error');
          opts.judge.unanswered({ ...subject, baselineStatus: primary.status, baselineMs: ex.durationMs, error: `${res.error.code}: ${res.error.message}` });
          release();
          return;
        }
        // The secondary only feeds noise learning: its failure is logged, never a drop.
        if (sec !== undefined && !sec.ok) log.debug({ error: sec.error, id: ex.id }, 'secondary failed');
        st.answered++;
        // A pair waiting in the lane keeps its in-flight slot, so the lane is bounded by max_in_flight.
        lane.push(() => {
          try {
            const base = { response: primary, durationMs: ex.durationMs };
            const s = grpcSamples(endpoint, base, { response: res.response, durationMs: res.durationMs }, opts.descriptors, opts.ignoredHeaders);
            const self = sec?.ok === true ? grpcSamples(endpoint, base, { response: sec.response, durationMs: sec.durationMs }, opts.descriptors, opts.ignoredHeaders).candidate : undefined;
            judging++;
            void opts.judge
              .judge({ ...subject, baseline: s.baseline, candidate: s.candidate, secondary: self, baselineMs: ex.durationMs, extraDiffs: s.extraDiffs, extraFlags: s.flags })
              .finally(() => {
                judging--;
                checkIdle();
              });
          } catch (err) {
            log.error({ err, id: ex.id }, 'grpc pair not judged');
          } finally {
            release();
          }
        });
      },
      (err: unknown) => {
        log.error({ err, id: ex.id }, 'grpc copy failed');
        opts.drop('candidate_error');
        release();
      },
    );
  }

  function pump(): void {
    isScheduled = false;
    const staleBefore = performance.now() - opts.maxQueueWaitMs;
    while (inFlight < opts.maxInFlight && queue.length > 0) {
      const q = queue.poll() as Queued;
      if (q.at < staleBefore) {
        opts.drop('queue_full');
        continue;
      }
      inFlight++;
      if (inFlight > st.maxInFlight) st.maxInFlight = inFlight;
      send(q.ex);
    }
    checkIdle();
  }

  return {
    offer(ex: Exchange): boolean {
      if (!isGrpcExchange(ex)) return false;
      st.offered++;
      if (isClosing) {
        opts.drop('shutdown');
        return false;
      }
      const decision = opts.decide('POST', grpcEndpoint(ex));
      if (decision !== 'record') {
        opts.drop(decision);
        return false;
      }
      if (ex.grpc.response === null || ex.grpc.error !== undefined) {
        // No whole primary answer (reset, cancelled, unreachable): nothing to compare the candidate with.
        opts.drop('primary_error');
        return false;
      }
      if (ex.grpc.request.truncated || ex.grpc.response.truncated) {
        opts.drop('body_too_large');
        return false;
      }
      if (!queue.offer({ ex, at: performance.now() })) {
        opts.drop('queue_full');
        return false;
      }
      if (queue.length > st.maxQueued) st.maxQueued = queue.length;
      schedule();
      return true;
    },
    settle: async () => undefined,
    stats: () => ({ queued: queue.length, inFlight, judging, ...st }),
    async drain(deadlineMs) {
      isClosing = true;
      await idle.drain(queue, deadlineMs, () => opts.drop('shutdown'));
    },
  };
}
