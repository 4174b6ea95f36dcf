/**
 * The replay engine: streams recorded inbound HTTP exchanges to a target,
 * session by session, and judges each response as it arrives. `doppel
 * replay` is a thin CLI over `runReplay`; `doppel run` calls it in-process
 * with its own config, in-process mock counts and a baseline phase. The
 * steps live beside it: the source (replay-source.ts), the stop
 * (replay-stop.ts), one request played and judged (replay-player.ts), and
 * what it does alike with gRPC replay (grpc-replay.ts) before the schedule
 * (replay-setup.ts) and after it (replay-outcome.ts).
 */
import { availableParallelism } from 'node:os';
import { ExitCode } from '../core/errors.js';
import type { HttpExchange } from '../core/exchange.js';
import { newRunId } from '../core/ids.js';
import { loadTargetTls } from '../core/tls.js';
import { createSessionKeyer, parseSessionKey } from '../core/sessions.js';
import { createJudge } from '../judge/judge.js';
import { createJudgePool } from '../judge/judge-pool.js';
import { createRunReportWriter } from '../judge/run-report.js';
import { readBaselineReport } from '../report/baseline-report.js';
import { openStoreReader } from '../store/open-store.js';
import { createHttpSender, type HttpSender } from './http-sender.js';
import type { MergedRun, ReplayDeps, ReplayOptions, ReplayResult } from './replay-options.js';
import { baselineNameOf, endReplayRun, playSchedule, replayResultOf, writeReplayReport } from './replay-outcome.js';
import { ReplayPlayer } from './replay-player.js';
import { ReplayRun, type ReplayCounts } from './replay-run.js';
import { checkLatencyGates, checkTrafficAndTarget, createReplayJudgeParts, mockCountsSourceOf, playerJudgingOf, showReplayRun, trafficDirsOf } from './replay-setup.js';
import { checkTrafficDirs, countInbound, openReplaySource } from './replay-source.js';
import { ReplayStop } from './replay-stop.js';
import { buildRequest, type RequestBuildOptions } from './request-builder.js';
import { createRequestFilter } from './request-filter.js';
import { compileCaptures } from './runtime-vars.js';
import { followLiveWorkers, shareOf } from './run-share.js';
import { lookAheadOf, scheduleSessions, type Timing } from './session-scheduler.js';
import { mergeRunReport, writeMergedReport } from './coordinate/merge.js';
import { ReplayShard } from './coordinate/shard.js';

export type { MockCountsSource, ReplayDeps, ReplayOptions, ReplayResult } from './replay-options.js';

/** Diff samples the live view keeps (GET /api/runs/:id). */
const DIFF_SAMPLES = 20;
const SESSION_MEMORY = 10_000;

function originOf(target: string): string {
  return new URL(target).origin;
}

export async function runReplay(options: ReplayOptions, deps: ReplayDeps): Promise<ReplayResult> {
  const cfg = options.replay;
  const { log, metrics, clock } = deps;
  const runId = options.runId ?? cfg.run_id ?? newRunId(clock.now());

  // --- validation: every problem found here is exit 2, before anything is sent
  const dirs = trafficDirsOf(cfg.traffic);
  checkTrafficAndTarget(options, dirs, options.dryRun === undefined);
  const target = cfg.target ?? 'http://127.0.0.1';
  const hasBaselineRun = cfg.baseline !== undefined;
  checkLatencyGates(options.gates, hasBaselineRun);
  const filter = createRequestFilter(cfg.include ?? [], cfg.exclude ?? []);
  const captures = compileCaptures(cfg.captures);
  const { max_delay_ms: maxDelayMs, timeout_ms: timeoutMs, duration_ms: durationMs } = cfg;
  const maxBodyBytes = options.compare.max_body_bytes;
  if (options.reader === undefined) await checkTrafficDirs(dirs);
  const reader = options.reader ?? openStoreReader(dirs);
  // Local workers read the sessions leased to them from the store: the loader ships where they lie.
  const isSharing = options.coordination?.coordinator.isStoreShared === true && options.coordination.coordinator.isSole !== true;
  const refs = isSharing && reader.readRefs !== undefined ? new WeakMap<object, { ref: string; bytes: number }>() : undefined;
  const onRef = refs === undefined ? undefined : (ex: object, ref: string, bytes: number) => void refs.set(ex, { ref, bytes });
  const source = await openReplaySource({ reader, filter, limit: cfg.limit, dirs, metrics, log, ...(onRef === undefined ? {} : { onRef }) });

  const buildOpts: RequestBuildOptions = {
    targetOrigin: originOf(target),
    headers: Object.entries(cfg.headers ?? {}),
    env: { now: () => clock.now(), vars: options.vars },
  };
  if (options.dryRun !== undefined) return dryRun(source.exchanges, buildOpts, options.dryRun, runId, target);

  // --- the judge
  const compare = options.compare;
  const parts = createReplayJudgeParts(options, runId, metrics);
  const { noise, comparator, evaluator, runMetrics } = parts;
  const baseline = cfg.baseline === undefined ? undefined : await readBaselineReport(cfg.baseline);
  // A coordinated worker writes no report of its own: the last one writes the merged one.
  const report = cfg.report === undefined || options.coordination !== undefined ? undefined : createRunReportWriter(cfg.report, { maxDecodedBytes: maxBodyBytes });
  const runLog = log.child({ runId });
  const coordination = options.coordination;
  const startedAt = new Date(clock.now()).toISOString();
  const shard =
    coordination === undefined
      ? undefined
      : new ReplayShard({
          coordinator: coordination.coordinator,
          evaluator,
          noise,
          run: {
            gates: { ...options.gates },
            cutoffs: { ...options.cutoffs },
            hasLatencyBaseline: hasBaselineRun,
            noiseConfidence: compare.noise_confidence,
            target,
            baseline: baselineNameOf(cfg.baseline),
            startedAt,
          },
          isCollectingLines: cfg.report !== undefined,
          maxDecodedBytes: maxBodyBytes,
          pollMs: coordination.pollMs,
          log: runLog,
          // Read once each, as the loader reads the source: taken out at once, so the weak map stays small.
          ...(refs === undefined ? {} : { refOf: (ex: HttpExchange) => takeRef(refs, ex) }),
          ...(reader.readRefs === undefined ? {} : { readRefs: reader.readRefs.bind(reader) }),
        });
  // Large pairs are compared in worker threads, off the loop that sends; threads start on the first
  // one, and a pair the pool cannot take at once is compared here rather than dropped.
  const pool =
    cfg.judge_workers === 0
      ? undefined
      : createJudgePool({ compare, workers: Math.min(cfg.judge_workers, Math.max(1, availableParallelism() - 1)), maxQueued: Math.max(4, cfg.concurrency), log: runLog });
  const judge = createJudge({
    comparator,
    pool,
    inlineMaxBytes: cfg.judge_inline_bytes,
    whenPoolFull: 'inline',
    noise,
    evaluators: [shard?.evaluatorSink ?? evaluator],
    metrics: runMetrics,
    report: shard?.reportSink ?? report,
    maxSamples: DIFF_SAMPLES,
    onSaturated: () => undefined,
    log: runLog,
  });
  const mockSource = mockCountsSourceOf(options);

  const run = new ReplayRun(runId, target, startedAt, () => clock.monotonic());
  const inbound = options.reader === undefined ? await countInbound(dirs) : undefined;
  const limit = cfg.limit;
  run.expectedTotal = limit === undefined ? inbound : inbound === undefined ? limit : Math.min(limit, inbound);
  showReplayRun(run, { reportDir: cfg.report, judge, deps });

  const stop = new ReplayStop({ signal: options.signal, durationMs, log: runLog });
  const sessionOf = replaySessionKeyer(options.sessionKey);
  let share = 1;
  if (shard !== undefined && coordination !== undefined) {
    await shard.start(source.batches, sessionOf ?? ((ex) => ex.session || ex.id), stop.signal);
    if (coordination.isLoadOnly === true) {
      await coordination.coordinator.leave();
      stop.dispose();
      return emptyResult(runId, 0);
    }
    // Rate and concurrency are the whole run's: each live worker takes its share.
    share = await coordination.coordinator.liveWorkers();
  }
  const total = { rate: cfg.rate, concurrency: cfg.rate !== undefined ? cfg.max_in_flight : cfg.concurrency };
  const first = shareOf(total, share);
  const runShare =
    coordination === undefined || shard === undefined
      ? undefined
      : followLiveWorkers({ coordinator: coordination.coordinator, total, liveWorkers: share, pollMs: coordination.pollMs, clock, signal: stop.signal, log: runLog });
  const scheduleShare = runShare?.schedule;
  const timing: Timing =
    first.rate !== undefined
      ? { mode: 'rate', rps: first.rate }
      : { mode: 'recorded', timeScale: cfg.time_scale, maxDelayMs };
  const workers = first.concurrency;
  const senders: HttpSender[] = [];
  const tls = options.targetTls ?? loadTargetTls(cfg.target_tls, 'replay.target_tls');
  const http2 = cfg.target_http2;
  // A coordinated worker's share may grow when others are lost: the pool may hold the whole run's
  // connections, and only opens as many as there are requests in flight.
  const sender = createHttpSender({ target, connections: shard === undefined ? workers : total.concurrency, insecure: cfg.insecure, tls, timeoutMs, maxBodyBytes, http2, now: () => clock.monotonic(), signal: stop.signal });
  senders.push(sender);
  let secondary: HttpSender | undefined;
  if (cfg.secondary !== undefined) {
    secondary = createHttpSender({ target: cfg.secondary, connections: Math.min(workers, 16), insecure: cfg.insecure, tls, timeoutMs, maxBodyBytes, http2, now: () => clock.monotonic(), signal: stop.signal });
    senders.push(secondary);
  }
  const player = new ReplayPlayer({
    run,
    target,
    sender,
    secondary,
    buildOpts,
    captures,
    maxBodyBytes,
    ...playerJudgingOf(options, parts, { judge, baseline, stop, clock, log: runLog }),
  });

  // Workers that join late or are lost change every live worker's share.
  runShare?.start();
  const { stats, mockCounts } = await playSchedule({
    player, run, judging: parts, mockSource, log: runLog,
    schedule: () => {
      runLog.info({ target, timing, workers, ...(shard === undefined ? {} : { liveWorkers: share }) }, 'replay started');
      // A worker of a run shared with others plays the sessions leased to it; alone, a run's one
      // worker streams the traffic as one process does and only reports through the run.
      const leased = shard !== undefined && !shard.isStreaming ? shard : undefined;
      const schedulerSessionOf = leased?.sessionOf ?? sessionOf;
      return scheduleSessions({
        // A worker leases a few sessions ahead of its senders, so the others get theirs.
        source: leased === undefined ? { batches: source.batches } : { batches: leased.batches(() => scheduleShare?.workers ?? workers, stop.signal) },
        ...(schedulerSessionOf === undefined ? {} : { sessionOf: schedulerSessionOf }),
        workers,
        timing,
        ...(scheduleShare === undefined ? {} : { share: scheduleShare }),
        ...(leased !== undefined
          ? { window: () => Math.max(8, (scheduleShare?.workers ?? workers) * 2) }
          : lookAheadOf(cfg.window, workers, (size) => runLog.debug({ window: size }, 'a session came out in pieces: look-ahead window grown'))),
        sessionMemory: SESSION_MEMORY,
        clock,
        signal: stop.signal,
        play: (req, session) => player.play(req, session),
        ...(shard === undefined
          ? {}
          : { afterPlay: leased === undefined ? (_req: unknown, session: { id: string }) => shard.playedInStream(session.id) : (req: { exchange: HttpExchange }) => leased.played(req.exchange.id) }),
      });
    },
    release: async () => {
      runShare?.stop();
      stop.dispose();
      await Promise.all(senders.map((s) => s.close()));
      await pool?.close();
    },
  });

  let gates = run.gates;
  let abortReason = stop.abortReason;
  let isReporter = false;
  let mergedRun: MergedRun | undefined;
  if (shard !== undefined && coordination !== undefined) {
    isReporter = await shard.finish(abortReason, new Date(clock.now()).toISOString());
    if (isReporter) {
      // The last worker's verdict is the run's: gates over every worker's sessions.
      const merged = cfg.report === undefined ? await mergeRunReport(coordination.coordinator, runId) : await writeMergedReport(coordination.coordinator, runId, cfg.report);
      gates = merged.gates;
      abortReason = merged.abortReason;
      const d = merged.distributed;
      mergedRun = { workers: d.workers.length, sessions: d.sessions, resent: d.resent, counts: merged.counts };
    }
    run.gates = gates;
  }
  // A worker that did not write the merged report has done its share: its own gates are not the run's.
  const end = endReplayRun(run, abortReason, gates, shard !== undefined && !isReporter, clock);
  if (report !== undefined && shard === undefined) await writeReplayReport(report, run, end, { baselineDir: cfg.baseline, evaluator, noise });
  const result = replayResultOf({
    run,
    end,
    gates,
    reportDir: report?.dir ?? (isReporter ? cfg.report : undefined),
    ...(shard === undefined || coordination === undefined
      ? {}
      : { shard: { isReporter, resent: shard.resent, shares: runShare?.changes ?? [], worker: coordination.coordinator.workerId, ...(mergedRun === undefined ? {} : { run: mergedRun }) } }),
    judgedOffLoop: judge.offloaded,
    // A worker of a shared run is held to its share; once shares were recomputed there is no one rate to hold it to.
    targetRate: runShare === undefined ? cfg.rate : runShare.changes.length === 1 ? runShare.changes[0]?.rate : undefined,
    stats,
    mockCounts,
  });
  const { corrupt, skippedOther, filtered } = source.skips;
  runLog.info(
    { verdict: end.verdict, counts: result.counts, corrupt, skippedOther, filtered, achievedRate: Math.round(result.achievedRate), lagP99Ms: result.schedule.lagP99Ms, judgedOffLoop: judge.offloaded },
    'replay finished',
  );
  return result;
}

function takeRef(refs: WeakMap<object, { ref: string; bytes: number }>, ex: object): { ref: string; bytes: number } | undefined {
  const at = refs.get(ex);
  refs.delete(ex);
  return at;
}

/** A run that sent nothing: a dry run (`unjudged` counts what it printed) or a --load-only loader. */
function emptyResult(runId: string, unjudged: number): ReplayResult {
  const counts: ReplayCounts = { sent: 0, passed: 0, failed: 0, errors: 0, warmup: 0, unjudged, cancelled: 0, noiseSamples: 0, newMismatches: 0 };
  return {
    runId,
    verdict: 'pass',
    exitCode: ExitCode.ok,
    abortReason: undefined,
    gates: [],
    counts,
    reportDir: undefined,
    achievedRate: 0,
    judgedOffLoop: 0,
    targetRate: undefined,
    rateShortfall: undefined,
    schedule: { lagP50Ms: 0, lagP99Ms: 0, lagMaxMs: 0, maxBuffered: 0 },
    mockCounts: undefined,
  };
}

async function dryRun(
  source: AsyncIterable<HttpExchange>,
  buildOpts: RequestBuildOptions,
  write: (line: string) => void,
  runId: string,
  target: string,
): Promise<ReplayResult> {
  let n = 0;
  for await (const ex of source) {
    const out = buildRequest(ex, undefined, buildOpts);
    const body = out.body === undefined ? '' : ` (${out.body.length} bytes)`;
    write(`${ex.session || ex.id}\t${out.method} ${target.replace(/\/$/, '')}${out.path}${body}`);
    n++;
  }
  return emptyResult(runId, n);
}

/**
 * Sessions by the configured key, read from the recorded request: an exchange
 * whose recorded session is its own id (recorded with the default key) gets
 * the session its header, cookie or JWT claim names; one recorded with a key
 * keeps it. `exchange` and `connection` keys change nothing (a replayed
 * exchange carries no connection id).
 */
export function replaySessionKeyer(key: string | undefined): ((ex: HttpExchange) => string) | undefined {
  if (key === undefined) return undefined;
  const spec = parseSessionKey(key);
  if (spec.kind === 'exchange' || spec.kind === 'connection') return undefined;
  // Recorded secrets are placeholders already; equal placeholders still group.
  const keyer = createSessionKeyer(spec, (v) => v);
  return (ex) => {
    if (ex.session !== '' && ex.session !== ex.id) return ex.session;
    const raw: string[] = [];
    for (const [n, v] of ex.http.request.headers) raw.push(n, v);
    return keyer({ rawHeaders: raw, connectionId: '', exchangeId: ex.id });
  };
}
