/** What `doppel replay` runs: recorded sessions sent to the candidate and judged, alone, as local workers or as one worker of a distributed run. */
import { systemClock } from '../core/clock.js';
import { createDaemon } from '../daemon.js';
import { createReplayRunsProvider } from '../admin/runs-provider.js';
import { runReplay, type ReplayDeps, type ReplayOptions } from '../replay/run-replay.js';
import { runGrpcReplay } from '../replay/grpc-replay.js';
import { usageError } from '../core/errors.js';
import { formatVerdict, startProgressView, type ProgressView } from '../replay/progress-view.js';
import { numeric, setIn, type ConfigOverrides } from '../config/overrides.js';
import type { CommandContext } from './context.js';
import { gatesOf } from './load-context.js';
import type { ExitCode } from '../core/errors.js';
import { openCoordination, type CoordinationFlags } from './replay-coordination.js';
import { runLocalWorkers, type WorkersFlags } from './replay-workers.js';
import type { MemoryRun } from '../replay/coordinate/memory-run.js';

/** The worker of an in-process run that the process holding the run plays itself. */
interface LocalWorker {
  run: MemoryRun;
  runId: string;
}

export interface ReplayFlags extends CoordinationFlags, WorkersFlags {
  traffic?: string[];
  target?: string;
  concurrency?: string;
  timeScale?: string;
  maxDelay?: string;
  rate?: string;
  gates?: string;
  report?: string;
  runId?: string;
  baseline?: string;
  include?: string[];
  exclude?: string[];
  limit?: string;
  duration?: string;
  warmup?: string;
  insecure?: boolean;
  dryRun?: boolean;
  mockAdmin?: string[];
  secondary?: string;
  protocol?: string;
  targetH2?: boolean;
}

/** The replay flags that have a config key, written over replay.* before validation. */
export function replayOverrides(flags: ReplayFlags): ConfigOverrides {
  return (raw) => {
    const set = (key: string, value: unknown) => {
      if (value !== undefined) setIn(raw, ['replay', key], value);
    };
    const num = (value: string | undefined) => (value === undefined ? undefined : numeric(value));
    set('traffic', flags.traffic);
    set('target', flags.target);
    set('concurrency', num(flags.concurrency));
    set('time_scale', num(flags.timeScale));
    set('max_delay', num(flags.maxDelay));
    set('rate', num(flags.rate));
    set('report', flags.report);
    set('run_id', flags.runId);
    set('baseline', flags.baseline);
    set('include', flags.include);
    set('exclude', flags.exclude);
    set('limit', num(flags.limit));
    set('duration', num(flags.duration));
    set('warmup', num(flags.warmup));
    set('insecure', flags.insecure);
    set('mock_admin', flags.mockAdmin);
    set('secondary', flags.secondary);
    set('protocol', flags.protocol);
    if (flags.targetH2 === true) set('target_http2', true);
  };
}

/** Flags that only HTTP replay reads, named for a gRPC replay that was given one (exit 2). */
function checkGrpcFlags(flags: ReplayFlags): void {
  const scaleOut: Array<[string, unknown]> = [
    ['--workers', flags.workers],
    ['--coordinator', flags.coordinator],
    ['--load-only', flags.loadOnly],
    ['--claim-timeout', flags.claimTimeout],
    ['--worker-id', flags.workerId],
  ];
  for (const [flag, value] of scaleOut) {
    if (value !== undefined) throw usageError(`${flag}: a distributed replay hands out HTTP sessions; it does not apply to --protocol grpc`);
  }
  if (flags.dryRun === true) throw usageError('--dry-run lists HTTP requests; it does not apply to --protocol grpc');
}

export async function replayAction(flags: ReplayFlags, ctx: CommandContext): Promise<ExitCode> {
  if (ctx.config.replay.protocol === 'grpc') checkGrpcFlags(flags);
  if (flags.workers !== undefined && flags.ipcWorker === undefined) {
    // The first worker of an in-process run is this process itself.
    return runLocalWorkers(flags, ctx, (worker, run, runId) => {
      const own: ReplayFlags = { ...flags, ipcWorker: worker };
      delete own.workers;
      return replayOnce(own, ctx, { run, runId });
    });
  }
  return replayOnce(flags, ctx);
}

/** One replay: alone, or as one worker of a coordinated run. */
async function replayOnce(flags: ReplayFlags, ctx: CommandContext, local?: LocalWorker): Promise<ExitCode> {
  const config = ctx.config;
  const { quality_gates: gates, cutoffs } = gatesOf(ctx, flags.gates);

  const coordination = await openCoordination(flags, local?.runId ?? config.replay.run_id, local?.run);
  const daemon = createDaemon({ config, runtime: ctx.runtime, reload: ctx.io.reload, cwd: ctx.io.cwd });
  // Every worker of a run exports its own figures; the label keeps them apart, and rules sum over it.
  if (coordination !== undefined) daemon.metrics.registry.setDefaultLabels({ worker: coordination.coordinator.workerId });
  const runs = createReplayRunsProvider();
  daemon.providers.runs.push(runs);
  let progress: ProgressView | undefined;
  try {
    // One-shot commands serve the admin API only when --admin is given (DESIGN.md).
    if (ctx.globals.admin !== undefined) await daemon.startAdmin();
    const isDryRun = flags.dryRun === true;
    const replay = config.replay.protocol === 'grpc' ? (o: ReplayOptions, d: ReplayDeps) => runGrpcReplay({ ...o, grpc: config.grpc, cwd: ctx.io.cwd }, d) : runReplay;
    const result = await replay(
      {
        replay: config.replay,
        targetTls: daemon.targetTls(config.replay.target_tls, 'replay.target_tls'),
        sessionKey: config.sessions.key,
        compare: config.compare,
        gates,
        cutoffs,
        vars: ctx.runtime.vars,
        signal: ctx.io.signal,
        ...(ctx.runtime.adminToken === undefined ? {} : { adminToken: ctx.runtime.adminToken }),
        ...(isDryRun ? { dryRun: (line: string) => ctx.io.stdout.write(`${line}\n`) } : {}),
        ...(coordination === undefined ? {} : { coordination }),
        ...(local === undefined ? {} : { runId: local.runId }),
      },
      {
        log: daemon.log,
        metrics: daemon.metrics,
        clock: systemClock,
        observe: (run) => {
          runs.add(run);
          progress = startProgressView(run, { stream: ctx.io.stderr });
        },
      },
    );
    progress?.stop();
    progress = undefined;
    if (!isDryRun) ctx.io.stdout.write(formatVerdict(result));
    return result.exitCode;
  } finally {
    progress?.stop();
    await coordination?.coordinator.close();
    await daemon.close();
  }
}
