import { Argument, type Command } from 'commander';
import { notImplemented } from '../core/errors.js';
import { collectList } from './context.js';
import type { Bind } from './program.js';

export interface ExportFlags {
  traffic?: string[];
  out?: string;
}

export function registerExportCommand(program: Command, bind: Bind): Command {
  return program
    .command('export')
    .description('Export traffic as HAR, WireMock mappings or a k6 script')
    .addArgument(new Argument('<format>', 'output format').choices(['har', 'wiremock', 'k6']))
    .option('--traffic <dirs>', 'traffic directories DIR[,DIR...]', collectList)
    .option('--out <path>', 'output file or directory')
    .action(bind<ExportFlags>(async () => {
      throw notImplemented('the export command');
    }));
}
