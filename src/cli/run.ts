/** `doppel run`: its argument and help; the action (run-action.ts) is imported when it runs. */
import { Option, type Command } from 'commander';
import type { Bind } from './context.js';

export function registerRunCommand(program: Command, bind: Bind): Command {
  return program
    .command('run')
    .description('Phased orchestration: mocks -> SUT readiness -> (baseline) -> replay -> gates')
    .argument('<config>', 'YAML configuration (DESIGN.md sections); relative paths in it are relative to the file')
    .addOption(new Option('--dry-run', 'validate config and traffic, print the plan'))
    .action(
      bind(async () => {
        const { runAction } = await import('./run-action.js');
        return { action: runAction, file: (args) => args[0] };
      }),
    );
}
