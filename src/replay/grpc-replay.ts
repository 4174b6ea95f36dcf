/**
 * Replay of recorded inbound gRPC calls (replay.protocol: grpc) on the same
 * schedule as HTTP replay (session-scheduler.ts): sessions in recorded order
 * and side by side, recorded gaps scaled by replay.time_scale and capped at
 * replay.max_delay, or an open-model replay.rate; replay.duration, warmup,
 * include/exclude, a baseline run (--baseline: paired durations for latency
 * gates, new_mismatch), a secondary for noise, mock counts and
 * replay.headers apply as for HTTP. Each answer is judged against the
 * recorded one through the one judge (judge/grpc-pair.ts lifts the pair).
 *
 * What reads HTTP alone is refused up front (exit 2): replay.captures
 * (JSON bodies and headers of HTTP answers), --dry-run, and the scale-out
 * flags (checked by the CLI).
 */
import type { GrpcConfig } from '../config/schema.js';
import { DoppelError, usageError } from '../core/errors.js';
import { isGrpcExchange, type GrpcExchange } from '../core/exchange.js';
import { newRunId } from '../core/ids.js';
import { compilePath } from '../core/json-path.js';
import { loadTargetTls, type TargetTls } from '../core/tls.js';
import { createJudge } from '../judge/judge.js';
import { createRunReportWriter } from '../judge/run-report.js';
import { configuredDescriptors } from '../protocols/grpc/configured-descriptors.js';
import { grpcEndpoint } from '../protocols/grpc/grpc-exchange.js';
import { createGrpcSender, type GrpcSender } from '../protocols/grpc/grpc-sender.js';
import { readBaselineReport } from '../report/baseline-report.js';
import { openStoreReader } from '../store/open-store.js';
import type { ExchangeReader } from '../store/types.js';
import { GrpcCallPlayer } from './grpc-call-player.js';
import type { ReplayDeps, ReplayOptions, ReplayResult } from './replay-options.js';
import { endReplayRun, playSchedule, replayResultOf, writeReplayReport } from './replay-outcome.js';
import { ReplayRun } from './replay-run.js';
import { checkLatencyGates, checkTrafficAndTarget, createReplayJudgeParts, mockCountsSourceOf, playerJudgingOf, showReplayRun, trafficDirsOf } from './replay-setup.js';
import { checkTrafficDirs } from './replay-source.js';
import { ReplayStop } from './replay-stop.js';
import { createRequestFilter, type RequestFilter } from './request-filter.js';
import { lookAheadOf, scheduleSessions, type Timing } from './session-scheduler.js';

export interface GrpcReplayOptions extends ReplayOptions {
  grpc: Readonly<GrpcConfig>;
  cwd: string;
}

const SESSION_MEMORY = 10_000;

/** Inbound gRPC calls that pass the filters (a call is `POST /package.Service/Method`), up to the limit. */
async function* inboundCalls(reader: ExchangeReader, filter: RequestFilter, limit: number | undefined, seen: { calls: number }): AsyncGenerator<GrpcExchange> {
  for await (const ex of reader.read()) {
    if (!isGrpcExchange(ex) || ex.direction !== 'inbound') continue;
    if (!filter.accepts('POST', grpcEndpoint(ex))) continue;
    if (limit !== undefined && seen.calls >= limit) return;
    seen.calls++;
    yield ex;
  }
}

/** --insecure on a gRPC target: TLS without verification, as for HTTP targets. */
function targetTlsOf(options: GrpcReplayOptions): TargetTls | undefined {
  const cfg = options.replay;
  const tls = options.targetTls ?? loadTargetTls(cfg.target_tls, 'replay.target_tls');
  return cfg.insecure ? { ...tls, rejectUnauthorized: false } : tls;
}

export async function runGrpcReplay(options: GrpcReplayOptions, deps: ReplayDeps): Promise<ReplayResult> {
  const cfg = options.replay;
  const { log, metrics, clock } = deps;
  const runId = options.runId ?? cfg.run_id ?? newRunId(clock.now());

  // --- validation: every problem found here is exit 2, before anything is sent
  const dirs = trafficDirsOf(cfg.traffic);
  checkTrafficAndTarget(options, dirs, true);
  if (cfg.captures.length > 0) {
    throw usageError(
      'replay.captures: captures read JSON bodies and headers of HTTP answers; they do not apply to replay.protocol grpc (recorded gRPC messages are sent as recorded)',
    );
  }
  if (options.coordination !== undefined) throw usageError('--coordinator: a distributed replay hands out HTTP sessions; it does not apply to replay.protocol grpc');
  const target = cfg.target as string;
  checkLatencyGates(options.gates, cfg.baseline !== undefined);
  const filter = createRequestFilter(cfg.include ?? [], cfg.exclude ?? []);
  if (options.reader === undefined) await checkTrafficDirs(dirs);
  const baseline = cfg.baseline === undefined ? undefined : await readBaselineReport(cfg.baseline);
  const tls = targetTlsOf(options);
  const descriptors = await configuredDescriptors(options.grpc, options.cwd, {
    url: target,
    ...(tls === undefined ? {} : { tls: { ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.rejectUnauthorized } }),
  });
  const reader = options.reader ?? openStoreReader(dirs);
  // An empty selection is an input error before any call goes out, as it was before the schedule streamed.
  const first = await inboundCalls(reader, filter, 1, { calls: 0 }).next();
  if (first.done === true) throw new DoppelError('DOPPEL_INPUT_INVALID', `${dirs.join(', ') || 'the traffic source'}: no inbound gRPC exchanges to replay`);

  // --- the judge
  const compare = options.compare;
  const parts = createReplayJudgeParts(options, runId, metrics);
  const { noise, comparator, evaluator, runMetrics } = parts;
  const ignoredHeaders = new Set<string>();
  for (const rule of compare.ignore) {
    const p = compilePath(rule);
    if (p.kind === 'header') ignoredHeaders.add(p.name);
  }
  const report = cfg.report === undefined ? undefined : createRunReportWriter(cfg.report, { maxDecodedBytes: compare.max_body_bytes });
  const runLog = log.child({ runId });
  const judge = createJudge({ comparator, noise, evaluators: [evaluator], metrics: runMetrics, report, maxSamples: 20, onSaturated: () => undefined, log: runLog });
  const mockSource = mockCountsSourceOf(options);

  const startedAt = new Date(clock.now()).toISOString();
  const run = new ReplayRun(runId, target, startedAt, () => clock.monotonic());
  run.expectedTotal = cfg.limit;
  showReplayRun(run, { reportDir: cfg.report, judge, deps });

  const stop = new ReplayStop({ signal: options.signal, durationMs: cfg.duration_ms, log: runLog });
  const timing: Timing = cfg.rate !== undefined ? { mode: 'rate', rps: cfg.rate } : { mode: 'recorded', timeScale: cfg.time_scale, maxDelayMs: cfg.max_delay_ms };
  const workers = Math.max(1, timing.mode === 'rate' ? cfg.max_in_flight : cfg.concurrency);
  const senders: GrpcSender[] = [];
  const sender = createGrpcSender({ target, tls, timeoutMs: cfg.timeout_ms, now: () => clock.monotonic() });
  senders.push(sender);
  let secondary: GrpcSender | undefined;
  if (cfg.secondary !== undefined) {
    secondary = createGrpcSender({ target: cfg.secondary, tls, timeoutMs: cfg.timeout_ms, now: () => clock.monotonic() });
    senders.push(secondary);
  }
  const player = new GrpcCallPlayer({
    run,
    target,
    sender,
    secondary,
    headers: Object.entries(cfg.headers ?? {}),
    env: { now: () => clock.now(), vars: options.vars },
    descriptors,
    ignoredHeaders,
    ...playerJudgingOf(options, parts, { judge, baseline, stop, clock, log: runLog }),
  });

  const seen = { calls: 0 };
  const { stats, mockCounts } = await playSchedule({
    player, run, judging: parts, mockSource, log: runLog,
    schedule: async () => {
      runLog.info({ target, timing, workers, descriptors: descriptors?.methods().length ?? 0 }, 'grpc replay started');
      const stats = await scheduleSessions<GrpcExchange>({
        source: inboundCalls(reader, filter, cfg.limit, seen),
        workers,
        timing,
        ...lookAheadOf(cfg.window, workers, (size) => runLog.debug({ window: size }, 'a session came out in pieces: look-ahead window grown')),
        sessionMemory: SESSION_MEMORY,
        clock,
        signal: stop.signal,
        play: (req) => player.play(req.exchange),
      });
      run.counts.cancelled += Math.max(0, seen.calls - stats.started);
      return stats;
    },
    release: async () => {
      stop.dispose();
      await Promise.all(senders.map((s) => s.close()));
    },
  });

  const gates = run.gates;
  const end = endReplayRun(run, stop.abortReason, gates, false, clock);
  if (report !== undefined) await writeReplayReport(report, run, end, { baselineDir: cfg.baseline, evaluator, noise });
  // gRPC messages are small: judged inline
  const result = replayResultOf({ run, end, gates, reportDir: report?.dir, judgedOffLoop: 0, targetRate: cfg.rate, stats, mockCounts });
  runLog.info({ verdict: end.verdict, counts: run.counts, achievedRate: Math.round(result.achievedRate), lagP99Ms: stats.lag.quantile(0.99) }, 'replay finished');
  return result;
}
