/** `doppel import`: its arguments, flags and help; the action (import-action.ts) is imported when it runs. */
import { Argument, type Command } from 'commander';
import type { Bind } from './context.js';
import type { ImportFlags, ImportFormat } from './import-action.js';

/** The service WireMock mappings stand for when --service is not given. */
const WIREMOCK_SERVICE = 'wiremock';

export function registerImportCommand(program: Command, bind: Bind): Command {
  return program
    .command('import')
    .description('Import HAR, GoReplay (.gor) or WireMock mappings into a traffic directory')
    .addArgument(new Argument('<format>', 'input format').choices(['har', 'gor', 'wiremock']))
    .argument('<file>', 'input file (wiremock: a mappings file, or a WireMock root directory holding mappings/ and __files/)')
    .option('--out <dir>', 'traffic directory to write')
    .option('--service <name>', `who answered these requests (wiremock: default ${WIREMOCK_SERVICE})`)
    .action(
      bind<ImportFlags>(async () => {
        const { importAction } = await import('./import-action.js');
        return { action: (flags, ctx, args) => importAction(args[0] as ImportFormat, args[1] as string, flags, ctx, WIREMOCK_SERVICE) };
      }),
    );
}
