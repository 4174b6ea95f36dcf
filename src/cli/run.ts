import { Option, type Command } from 'commander';
import { notImplemented } from '../core/errors.js';
import type { Bind } from './program.js';

export interface RunFlags {
  dryRun?: boolean;
}

export function registerRunCommand(program: Command, bind: Bind): Command {
  return program
    .command('run')
    .description('Phased orchestration: mocks -> SUT readiness -> (baseline) -> replay -> gates')
    .argument('<config>', 'YAML configuration (DESIGN.md sections)')
    .addOption(new Option('--dry-run', 'validate config and traffic, print the plan'))
    .action(bind<RunFlags>(async () => {
      throw notImplemented('the run command');
    }));
}
