import type { Command } from 'commander';
import type { Bind } from './context.js';

/** `doppel report`: the merged report of a distributed run, from what its workers committed so far. */
export function registerReportCommand(program: Command, bind: Bind): Command {
  return program
    .command('report')
    .description('Write the merged report of a distributed replay run (summary.json, junit.xml, report.html, diffs.ndjson, results.ndjson)')
    .option('--run-id <id>', 'the run id its workers were started with')
    .option('--coordinator <url>', 'the Redis the workers coordinate through (redis://HOST:PORT/DB[?cluster=1])')
    .option('--out <dir>', 'report directory')
    .action(
      bind(async () => {
        const { reportAction } = await import('./report-action.js');
        return { action: reportAction };
      }),
    );
}
