/** `doppel rules`: its flags and help; the action (rules-action.ts) is imported when it runs. */
import type { Command } from 'commander';
import type { Bind } from './context.js';

export function registerRulesCommand(program: Command, bind: Bind): Command {
  return program
    .command('rules')
    .description('Print Prometheus alerting rules for the quality gates')
    .option('--gates <file>', 'YAML file with quality_gates and/or cutoffs (default: those of --config)')
    .option('--window <duration>', 'rate() window of the counter-ratio rules', '5m')
    .option('--for <duration>', 'how long a condition holds before an alert fires', '2m')
    .action(
      bind(async () => {
        const { rulesAction } = await import('./rules-action.js');
        return { action: rulesAction };
      }),
    );
}
