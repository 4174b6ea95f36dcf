/**
 * `doppel run`: backends -> (baseline) -> sut -> replay -> gates, each phase
 * gated on the one before, artifacts kept whatever phase fails. Phase records
 * go to `phases.json` in the report directory so a failed run explains itself.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ResolvedConfig } from '../config/resolve.js';
import type { Clock } from '../core/clock.js';
import { DoppelError, describeError, isDoppelError, type ExitCode } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { AdminProviders } from '../admin/types.js';
import type { MockCounts, Verdict } from '../gates/types.js';
import type { Metrics } from '../metrics/metrics.js';
import { runReplay, type MockCountsSource, type ReplayResult } from '../replay/run-replay.js';
import type { ReplayRun } from '../replay/replay-run.js';
import type { MockFactories, RunningMock } from './backends.js';
import type { ProcessPlan, RunPlan } from './run-plan.js';
import { startSut, type SutProcess } from './sut-process.js';

export interface RunDeps {
  log: Logger;
  metrics: Metrics;
  clock: Clock;
  providers: AdminProviders;
  factories: MockFactories;
  /** progress lines for a person */
  say: (line: string) => void;
  signal: AbortSignal;
  vars: Readonly<Record<string, string | undefined>>;
  observe?: (run: ReplayRun) => void;
}

type PhaseName = 'backends' | 'baseline' | 'sut' | 'replay' | 'gates';
interface PhaseRecord {
  phase: PhaseName;
  status: 'ok' | 'failed' | 'skipped';
  startedAt: string;
  durationMs: number;
  detail?: string;
}

export interface RunOutcome {
  exitCode: ExitCode;
  verdict: Verdict | 'error';
  reportDir: string;
  replay: ReplayResult | undefined;
  phases: PhaseRecord[];
}

function sumCounts(mocks: readonly RunningMock[]): MockCounts {
  const total: MockCounts = { matched: 0, unmatched: 0, passthrough: 0 };
  for (const m of mocks) {
    const c = m.counts();
    total.matched += c.matched;
    total.unmatched += c.unmatched;
    total.passthrough += c.passthrough;
  }
  return total;
}

/** mock_match_rate from this run's in-process mocks: counter deltas over the replay. */
function inProcessMockCounts(mocks: readonly RunningMock[]): MockCountsSource {
  let start: MockCounts = { matched: 0, unmatched: 0, passthrough: 0 };
  return {
    async start() {
      start = sumCounts(mocks);
    },
    async delta() {
      const now = sumCounts(mocks);
      return { matched: now.matched - start.matched, unmatched: now.unmatched - start.unmatched, passthrough: now.passthrough - start.passthrough };
    },
  };
}

export async function runOrchestration(plan: RunPlan, cfg: Readonly<ResolvedConfig>, deps: RunDeps): Promise<RunOutcome> {
  const { log, say } = deps;
  const phases: PhaseRecord[] = [];
  const mocks: RunningMock[] = [];
  const processes: SutProcess[] = [];
  let replayResult: ReplayResult | undefined;
  await mkdir(plan.reportDir, { recursive: true, mode: 0o700 });

  async function phase<T>(name: PhaseName, fn: () => Promise<T>): Promise<T> {
    const t0 = deps.clock.monotonic();
    const startedAt = new Date(deps.clock.now()).toISOString();
    say(`▶ ${name}`);
    try {
      const out = await fn();
      phases.push({ phase: name, status: 'ok', startedAt, durationMs: Math.round(deps.clock.monotonic() - t0) });
      return out;
    } catch (err) {
      phases.push({ phase: name, status: 'failed', startedAt, durationMs: Math.round(deps.clock.monotonic() - t0), detail: describeError(err) });
      say(`✗ ${name} failed: ${describeError(err)}`);
      throw err;
    }
  }

  async function startProcess(p: ProcessPlan): Promise<SutProcess> {
    const proc = await startSut({
      name: p.name,
      command: p.command,
      cwd: p.cwd,
      env: p.env,
      health: p.health,
      readySeconds: p.readySeconds,
      timeoutMs: p.timeoutMs,
      logDir: plan.reportDir,
      log,
    });
    processes.push(proc);
    await proc.waitReady(deps.signal);
    say(`  ${p.name} ready at ${p.health} (output in ${join(plan.reportDir, `${p.name}.stdout.log`)})`);
    return proc;
  }

  /** Replays once against a running process; the process exiting mid-run aborts the replay. */
  async function replayAgainst(proc: SutProcess | undefined, target: string, extra: { report: string; baseline: string | undefined; gates: Readonly<Record<string, string>> }): Promise<ReplayResult> {
    const stop = new AbortController();
    const onOuter = () => stop.abort(deps.signal.reason);
    deps.signal.addEventListener('abort', onOuter, { once: true });
    let exitNote: string | undefined;
    void proc?.exited.then(({ code, signal }) => {
      if (stop.signal.aborted) return;
      exitNote = `the service under test exited during the replay (${signal ? `signal ${signal}` : `exit code ${code}`})`;
      stop.abort(exitNote);
    });
    for (const m of mocks) m.reset();
    try {
      const replayCfg = { ...cfg.replay, target, report: extra.report, ...(extra.baseline === undefined ? {} : { baseline: extra.baseline }) };
      if (extra.baseline === undefined) delete (replayCfg as { baseline?: string }).baseline;
      return await runReplay(
        {
          replay: { ...replayCfg, traffic: plan.replayTraffic },
          sessionKey: cfg.sessions.key,
          compare: cfg.compare,
          gates: extra.gates,
          cutoffs: cfg.cutoffs,
          vars: deps.vars,
          signal: stop.signal,
          ...(mocks.length > 0 ? { mockCounts: inProcessMockCounts(mocks) } : {}),
        },
        { log, metrics: deps.metrics, clock: deps.clock, ...(deps.observe ? { observe: deps.observe } : {}) },
      );
    } finally {
      deps.signal.removeEventListener('abort', onOuter);
      if (exitNote !== undefined && proc) {
        await writeFile(join(plan.reportDir, `${extra.report === plan.reportDir ? 'sut' : 'baseline'}.last-lines.txt`), proc.lastLines().join('\n') + '\n');
      }
    }
  }

  let outcome: RunOutcome;
  try {
    await phase('backends', async () => {
      for (const m of plan.mocks) {
        const factory = deps.factories[m.config.protocol];
        const running = await factory(m.config, { traffic: m.traffic, stubs: m.stubs, log, metrics: deps.metrics });
        mocks.push(running);
        deps.providers.mocks.push(running);
        deps.providers.unmatched.push(running);
        say(`  ${running.service} (${running.protocol}) listening on ${running.address}, ${running.loaded} recordings loaded`);
        log.info({ service: running.service, protocol: running.protocol, address: running.address, loaded: running.loaded }, 'mock ready');
      }
    });

    let baselineDir = plan.baselineReport;
    if (plan.baseline) {
      const baselinePlan = plan.baseline;
      baselineDir = join(plan.reportDir, 'baseline');
      await phase('baseline', async () => {
        const proc = await startProcess(baselinePlan);
        try {
          const r = await replayAgainst(proc, baselinePlan.target, { report: baselineDir as string, baseline: undefined, gates: {} });
          if (r.verdict === 'aborted') throw new DoppelError('DOPPEL_RUN_ABORTED', `baseline replay aborted: ${r.abortReason ?? 'unknown reason'}`);
          say(`  baseline run: ${r.counts.sent} requests, report in ${baselineDir}`);
        } finally {
          await proc.stop();
        }
      });
    } else {
      phases.push({ phase: 'baseline', status: 'skipped', startedAt: new Date(deps.clock.now()).toISOString(), durationMs: 0, detail: plan.baselineReport ? `earlier run ${plan.baselineReport}` : 'recorded responses are the baseline' });
    }

    let sutProc: SutProcess | undefined;
    if (plan.sut) {
      const sutPlan = plan.sut;
      sutProc = await phase('sut', () => startProcess(sutPlan));
    } else {
      phases.push({ phase: 'sut', status: 'skipped', startedAt: new Date(deps.clock.now()).toISOString(), durationMs: 0, detail: `not started by doppel; expected at ${plan.target}` });
    }

    replayResult = await phase('replay', () => replayAgainst(sutProc, plan.target, { report: plan.reportDir, baseline: baselineDir, gates: cfg.quality_gates }));

    const result = replayResult;
    await phase('gates', async () => {
      for (const g of result.gates) {
        say(`  ${g.isPassing ? 'pass' : 'FAIL'}  ${g.gate} ${g.expression}  value ${g.value === undefined ? 'n/a' : String(Math.round(g.value * 10_000) / 10_000)}${g.note ? ` (${g.note})` : ''}`);
      }
    });
    outcome = { exitCode: result.exitCode, verdict: result.verdict, reportDir: plan.reportDir, replay: result, phases };
  } catch (err) {
    if (!isDoppelError(err)) log.error({ err }, 'run failed');
    // Let the caller print it; the artifacts below are written first.
    await finish();
    throw err;
  }
  await finish();
  return outcome;

  async function finish(): Promise<void> {
    for (const p of processes) await p.stop().catch(() => undefined);
    for (const m of mocks) await m.close().catch(() => undefined);
    await writeFile(join(plan.reportDir, 'phases.json'), JSON.stringify({ config: plan.configFile, phases }, null, 2) + '\n', { mode: 0o600 });
  }
}
