/** What `doppel run` runs: the phases of one config file, mocks to verdict. */
import { resolve as resolvePath } from 'node:path';
import { systemClock } from '../core/clock.js';
import { ExitCode } from '../core/errors.js';
import { createDaemon } from '../daemon.js';
import { createReplayRunsProvider } from '../admin/runs-provider.js';
import { startProgressView, type ProgressView } from '../replay/progress-view.js';
import { describePlan, inspectTraffic, planRun, type TrafficSummary } from '../orchestrate/run-plan.js';
import { createMockFactories } from '../orchestrate/mock-backends.js';
import { runOrchestration } from '../orchestrate/orchestrate.js';
import type { CommandContext } from './context.js';

export interface RunFlags {
  dryRun?: boolean;
}

export async function runAction(flags: RunFlags, ctx: CommandContext, args: string[]): Promise<ExitCode> {
  const file = args[0] as string;
  const config = ctx.config;
  const plan = planRun(config, file, ctx.io.cwd, ctx.io.env);
  const say = (line: string) => ctx.io.stdout.write(`${line}\n`);

  // Every traffic directory is checked before anything starts: a missing one fails the backends phase by name.
  const traffic = new Map<string, TrafficSummary>();
  for (const [i, m] of plan.mocks.entries()) {
    for (const d of m.traffic) traffic.set(d, await inspectTraffic(d, `backends: mocks[${i}] (${m.config.service})`));
  }
  for (const d of plan.replayTraffic) traffic.set(d, await inspectTraffic(d, 'replay.traffic'));
  if (flags.dryRun === true) {
    for (const line of describePlan(plan, traffic)) say(line);
    say('dry run: config and traffic are valid; nothing was started');
    return ExitCode.ok;
  }

  const daemon = createDaemon({ config, runtime: ctx.runtime, logStream: ctx.io.stderr, reload: ctx.io.reload, cwd: ctx.io.cwd });
  const runs = createReplayRunsProvider();
  daemon.providers.runs.push(runs);
  let progress: ProgressView | undefined;
  try {
    if (ctx.globals.admin !== undefined) await daemon.startAdmin();
    say(`doppel run ${file}`);
    const outcome = await runOrchestration(plan, config, {
      log: daemon.log,
      metrics: daemon.metrics,
      clock: systemClock,
      providers: daemon.providers,
      factories: createMockFactories(config, { redactKey: ctx.runtime.redactKey, cwd: ctx.io.cwd, writers: daemon.writers }),
      say: (line) => {
        progress?.stop();
        progress = undefined;
        say(line);
      },
      signal: ctx.io.signal,
      vars: ctx.runtime.vars,
      observe: (run) => {
        runs.add(run);
        progress = startProgressView(run, { stream: ctx.io.stderr });
      },
    });
    progress?.stop();
    progress = undefined;
    const verdict = outcome.exitCode === ExitCode.ok ? 'PASS' : outcome.exitCode === ExitCode.gateFailed ? 'FAIL' : 'ABORTED';
    say('');
    say(`verdict: ${verdict} (exit ${outcome.exitCode})${outcome.replay?.abortReason ? `: ${outcome.replay.abortReason}` : ''}`);
    say(`report: ${resolvePath(outcome.reportDir, 'report.html')}`);
    return outcome.exitCode;
  } finally {
    progress?.stop();
    await daemon.close();
  }
}
