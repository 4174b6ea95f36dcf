import type { Command } from 'commander';
import { notImplemented } from '../core/errors.js';
import type { Bind } from './program.js';

export interface TransformFlags {
  in?: string;
  out?: string;
  rules?: string;
}

export function registerTransformCommand(program: Command, bind: Bind): Command {
  return program
    .command('transform')
    .description('Rewrite a traffic directory with rules (redact, drop, rewrite fields)')
    .option('--in <dir>', 'traffic directory to read')
    .option('--out <dir>', 'traffic directory to write')
    .option('--rules <file>', 'transform rules YAML')
    .action(bind<TransformFlags>(async () => {
      throw notImplemented('the transform command');
    }));
}
