import type { Command } from 'commander';
import { ExitCode, usageError } from '../core/errors.js';
import { loadGatesFile } from '../config/load.js';
import { renderPrometheusRules } from '../gates/prometheus-rules.js';
import { parseDurationMs } from '../config/duration.js';
import { loadCommandConfig, type Bind } from './context.js';

export interface RulesFlags {
  gates?: string;
  window?: string;
  for?: string;
}

/** A Prometheus duration (5m, 30s, 1h) from a doppel duration flag. */
function promDuration(flag: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const ms = parseDurationMs(value);
  if (ms === undefined || ms <= 0) throw usageError(`--${flag}: expected a duration like "5m" or "30s", got ${JSON.stringify(value)}`);
  return ms % 60_000 === 0 ? `${ms / 60_000}m` : ms % 1000 === 0 ? `${ms / 1000}s` : `${Math.round(ms)}ms`;
}

export function registerRulesCommand(program: Command, bind: Bind): Command {
  return program
    .command('rules')
    .description('Print Prometheus alerting rules for the quality gates')
    .option('--gates <file>', 'YAML file with quality_gates and/or cutoffs (default: those of --config)')
    .option('--window <duration>', 'rate() window of the counter-ratio rules', '5m')
    .option('--for <duration>', 'how long a condition holds before an alert fires', '2m')
    .action(
      bind<RulesFlags>(async (flags, ctx) => {
        const window = promDuration('window', flags.window);
        const holdFor = promDuration('for', flags.for);
        let gatesFile;
        if (flags.gates !== undefined) gatesFile = loadGatesFile(flags.gates, ctx.io.env);
        else if (ctx.globals.config !== undefined) {
          const cfg = loadCommandConfig(ctx);
          gatesFile = { quality_gates: cfg.quality_gates, cutoffs: cfg.cutoffs };
        } else throw usageError('rules needs --gates FILE (or --config FILE with quality_gates)');
        ctx.io.stdout.write(
          renderPrometheusRules(gatesFile, { ...(window === undefined ? {} : { window }), ...(holdFor === undefined ? {} : { for: holdFor }) }),
        );
        return ExitCode.ok;
      }),
    );
}
