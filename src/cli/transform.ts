/** `doppel transform`: its flags and help; the action (transform-action.ts) is imported when it runs. */
import type { Command } from 'commander';
import type { Bind } from './context.js';

export function registerTransformCommand(program: Command, bind: Bind): Command {
  return program
    .command('transform')
    .description('Rewrite a traffic directory with rules (redact, drop, rewrite fields)')
    .option('--in <dir>', 'traffic directory to read')
    .option('--out <dir>', 'traffic directory to write')
    .option('--rules <file>', 'transform rules YAML')
    .action(
      bind(async () => {
        const { transformAction } = await import('./transform-action.js');
        return { action: transformAction };
      }),
    );
}
