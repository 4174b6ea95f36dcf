/** What `doppel rules` runs: the quality gates printed as Prometheus alerting rules. */
import { ExitCode, usageError } from '../core/errors.js';
import { loadGatesFile } from '../config/load.js';
import { renderPrometheusRules } from '../gates/prometheus-rules.js';
import { flagDurationMs } from '../config/overrides.js';
import type { CommandContext } from './context.js';

export interface RulesFlags {
  gates?: string;
  window?: string;
  for?: string;
}

/** A Prometheus duration (5m, 30s, 1h) from a doppel duration flag. */
function promDuration(flag: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const ms = flagDurationMs(flag, value);
  return ms % 60_000 === 0 ? `${ms / 60_000}m` : ms % 1000 === 0 ? `${ms / 1000}s` : `${Math.round(ms)}ms`;
}

export async function rulesAction(flags: RulesFlags, ctx: CommandContext): Promise<ExitCode> {
  const window = promDuration('window', flags.window);
  const holdFor = promDuration('for', flags.for);
  let gatesFile;
  if (flags.gates !== undefined) gatesFile = loadGatesFile(flags.gates, ctx.io.env);
  else if (ctx.globals.config !== undefined) {
    gatesFile = { quality_gates: ctx.config.quality_gates, cutoffs: ctx.config.cutoffs };
  } else throw usageError('rules needs --gates FILE (or --config FILE with quality_gates)');
  ctx.io.stdout.write(renderPrometheusRules(gatesFile, { ...(window === undefined ? {} : { window }), ...(holdFor === undefined ? {} : { for: holdFor }) }));
  return ExitCode.ok;
}
