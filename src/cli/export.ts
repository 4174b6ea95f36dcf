/** `doppel export`: its arguments, flags and help; the action (export-action.ts) is imported when it runs. */
import { Argument, type Command } from 'commander';
import { collectList, type Bind } from './context.js';
import type { ExportFlags, ExportFormat } from './export-action.js';

export function registerExportCommand(program: Command, bind: Bind): Command {
  return program
    .command('export')
    .description('Export traffic as HAR, WireMock mappings, a k6 script, grpcurl command lines or a k6 gRPC script')
    .addArgument(new Argument('<format>', 'output format').choices(['har', 'wiremock', 'k6', 'grpcurl', 'k6-grpc']))
    .option('--traffic <dirs>', 'traffic directories DIR[,DIR...]', collectList)
    .option('--out <path>', 'output file (har, k6) or directory (wiremock: DIR/mappings/*.json)')
    .action(
      bind<ExportFlags>(async () => {
        const { exportAction } = await import('./export-action.js');
        return { action: (flags, ctx, args) => exportAction(args[0] as ExportFormat, flags, ctx) };
      }),
    );
}
