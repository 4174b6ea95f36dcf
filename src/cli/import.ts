import { Argument, type Command } from 'commander';
import { notImplemented } from '../core/errors.js';
import type { Bind } from './program.js';

export interface ImportFlags {
  out?: string;
  service?: string;
}

export function registerImportCommand(program: Command, bind: Bind): Command {
  return program
    .command('import')
    .description('Import HAR, GoReplay (.gor) or WireMock mappings into a traffic directory')
    .addArgument(new Argument('<format>', 'input format').choices(['har', 'gor', 'wiremock']))
    .argument('<file>', 'input file')
    .option('--out <dir>', 'traffic directory to write')
    .option('--service <name>', 'who answered these requests')
    .action(bind<ImportFlags>(async () => {
      throw notImplemented('the import command');
    }));
}
