import type { Command } from 'commander';
import { notImplemented } from '../core/errors.js';
import type { Bind } from './program.js';

export interface RulesFlags {
  gates?: string;
}

export function registerRulesCommand(program: Command, bind: Bind): Command {
  return program
    .command('rules')
    .description('Print Prometheus alerting rules for the quality gates')
    .option('--gates <file>', 'YAML file with quality_gates and/or cutoffs')
    .action(bind<RulesFlags>(async () => {
      throw notImplemented('the rules command');
    }));
}
