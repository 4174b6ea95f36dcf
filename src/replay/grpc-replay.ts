/**
 * Replay of recorded inbound gRPC calls (replay.protocol: grpc): each
 * session's calls go to the target in recorded order, sessions side by side
 * up to replay.concurrency, and each answer is judged against the recorded
 * one through the one judge (judge/grpc-pair.ts lifts the pair): status,
 * metadata, messages as JSON under the path grammar when descriptors exist.
 */
import { createComparator } from '../compare/comparator.js';
import { createNoiseLearner } from '../compare/noise.js';
import type { GrpcConfig } from '../config/schema.js';
import { DoppelError, ExitCode, usageError } from '../core/errors.js';
import { isGrpcExchange, type GrpcExchange } from '../core/exchange.js';
import { newRunId } from '../core/ids.js';
import { loadTargetTls } from '../core/tls.js';
import { createGateEvaluator } from '../gates/gate-evaluator.js';
import { createRunMetrics } from '../gates/run-metrics.js';
import type { Verdict } from '../gates/types.js';
import { grpcSamples } from '../judge/grpc-pair.js';
import { createJudge } from '../judge/judge.js';
import { createRunReportWriter } from '../judge/run-report.js';
import { configuredDescriptors } from '../protocols/grpc/configured-descriptors.js';
import { grpcEndpoint } from '../protocols/grpc/grpc-exchange.js';
import { compilePath } from '../core/json-path.js';
import { openStoreReader } from '../store/open-store.js';
import { createGrpcSender } from './grpc-sender.js';
import type { ReplayCounts } from './replay-run.js';
import { checkTrafficDirs } from './replay-source.js';
import type { ReplayDeps, ReplayOptions, ReplayResult } from './run-replay.js';

export interface GrpcReplayOptions extends ReplayOptions {
  grpc: Readonly<GrpcConfig>;
  cwd: string;
}

export async function runGrpcReplay(options: GrpcReplayOptions, deps: ReplayDeps): Promise<ReplayResult> {
  const cfg = options.replay;
  const { log, metrics, clock } = deps;
  const runId = options.runId ?? cfg.run_id ?? newRunId(clock.now());
  const dirs = cfg.traffic === undefined ? [] : typeof cfg.traffic === 'string' ? [cfg.traffic] : [...cfg.traffic];
  if (options.reader === undefined && dirs.length === 0) throw usageError('replay.traffic: no traffic directory given (--traffic DIR[,DIR...])');
  if (cfg.target === undefined) throw usageError('replay.target: no target given (--target URL)');
  const target = cfg.target;
  if (options.reader === undefined) await checkTrafficDirs(dirs);
  const tls = options.targetTls ?? loadTargetTls(cfg.target_tls, 'replay.target_tls');
  const descriptors = await configuredDescriptors(options.grpc, options.cwd, {
    url: target,
    ...(tls === undefined ? {} : { tls: { ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.rejectUnauthorized } }),
  });

  // Sessions in recorded order; calls without a recorded answer cannot be judged.
  const sessions = new Map<string, GrpcExchange[]>();
  let total = 0;
  for await (const ex of (options.reader ?? openStoreReader(dirs)).read()) {
    if (!isGrpcExchange(ex) || ex.direction !== 'inbound') continue;
    if (cfg.limit !== undefined && total >= cfg.limit) break;
    const list = sessions.get(ex.session) ?? [];
    list.push(ex);
    sessions.set(ex.session, list);
    total++;
  }
  if (total === 0) throw new DoppelError('DOPPEL_INPUT_INVALID', `${dirs.join(', ') || 'the traffic source'}: no inbound gRPC exchanges to replay`);

  const compare = options.compare;
  const noise = compare.learn_noise > 0 ? createNoiseLearner({ samplesPerEndpoint: compare.learn_noise, confidence: compare.noise_confidence }) : undefined;
  const comparator = createComparator(compare);
  const ignoredHeaders = new Set<string>();
  for (const rule of compare.ignore) {
    const p = compilePath(rule);
    if (p.kind === 'header') ignoredHeaders.add(p.name);
  }
  const runMetrics = createRunMetrics(metrics, runId, 'replay');
  const evaluator = createGateEvaluator({ gates: options.gates, cutoffs: options.cutoffs, hasLatencyBaseline: false });
  const maxBodyBytes = compare.max_body_bytes;
  const report = cfg.report === undefined ? undefined : createRunReportWriter(cfg.report, { maxDecodedBytes: maxBodyBytes });
  const runLog = log.child({ runId });
  const judge = createJudge({ comparator, noise, evaluators: [evaluator], metrics: runMetrics, report, maxSamples: 20, onSaturated: () => undefined, log: runLog });
  const sender = createGrpcSender({ target, tls, timeoutMs: cfg.timeout_ms, now: () => clock.monotonic() });
  const counts: ReplayCounts = { sent: 0, passed: 0, failed: 0, errors: 0, warmup: 0, unjudged: 0, cancelled: 0, noiseSamples: 0, newMismatches: 0 };
  const startedAt = new Date(clock.now()).toISOString();
  const t0 = clock.monotonic();
  let abortReason: string | undefined;

  const play = async (ex: GrpcExchange): Promise<void> => {
    const endpoint = grpcEndpoint(ex);
    const res = await sender.send(ex);
    counts.sent++;
    const subject = { id: ex.id, at: clock.now(), method: 'POST', url: endpoint, endpoint };
    const recorded = ex.grpc.response;
    if (!res.ok) {
      counts.errors++;
      runMetrics.recordReplayResult(endpoint, 'error');
      judge.unanswered({ ...subject, baselineStatus: recorded?.status ?? -1, baselineMs: undefined, error: `${res.error.code}: ${res.error.message}` });
      return;
    }
    if (recorded === null) {
      counts.unjudged++;
      runMetrics.recordDurations(endpoint, res.durationMs, undefined);
      return;
    }
    const s = grpcSamples(endpoint, { response: recorded }, { response: res.response, durationMs: res.durationMs }, descriptors, ignoredHeaders);
    const judgment = await judge.judge({ ...subject, baseline: s.baseline, candidate: s.candidate, baselineMs: undefined, extraDiffs: s.extraDiffs, extraFlags: s.flags });
    if (judgment === undefined) return;
    if (judgment.outcome.isMatch) {
      counts.passed++;
      runMetrics.recordReplayResult(endpoint, 'pass');
    } else {
      counts.failed++;
      runMetrics.recordReplayResult(endpoint, 'fail');
    }
  };

  runLog.info({ target, sessions: sessions.size, calls: total, descriptors: descriptors?.methods().length ?? 0 }, 'grpc replay started');
  const queue = [...sessions.values()];
  const worker = async (): Promise<void> => {
    for (let s = queue.shift(); s !== undefined; s = queue.shift()) {
      for (const ex of s) {
        if (options.signal?.aborted === true) {
          abortReason ??= 'stopped';
          counts.cancelled++;
          continue;
        }
        await play(ex);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(cfg.concurrency, queue.length) }, worker));
  } finally {
    await sender.close();
  }
  if (counts.errors > 0 && counts.errors === counts.sent) abortReason ??= `target unreachable: ${counts.errors} calls to ${target} failed, none answered`;
  const gates = evaluator.results();
  runMetrics.exportGates(gates);
  const verdict: Verdict = abortReason !== undefined ? 'aborted' : gates.some((g) => !g.isPassing) ? 'fail' : 'pass';
  const finishedAt = new Date(clock.now()).toISOString();
  if (report !== undefined) {
    await report.write({ runId, mode: 'replay', startedAt, finishedAt, verdict, abortReason, baseline: 'recorded responses', target, evaluator, noise: noise?.learned() ?? [] }, {}, true);
  }
  const elapsedS = (clock.monotonic() - t0) / 1000;
  runLog.info({ verdict, counts }, 'replay finished');
  return {
    runId,
    verdict,
    exitCode: verdict === 'aborted' ? ExitCode.aborted : verdict === 'fail' ? ExitCode.gateFailed : ExitCode.ok,
    abortReason,
    gates,
    counts,
    reportDir: report?.dir,
    achievedRate: elapsedS > 0 ? counts.sent / elapsedS : 0,
    // gRPC messages are small: judged inline
    judgedOffLoop: 0,
    targetRate: undefined,
    rateShortfall: undefined,
    schedule: { lagP50Ms: 0, lagP99Ms: 0, lagMaxMs: 0, maxBuffered: 0 },
    mockCounts: undefined,
  };
}
