/** `doppel replay`: its flags and help; the action (replay-action.ts) is imported when it runs. */
import { Option, type Command } from 'commander';
import { collect, collectList, type Bind } from './context.js';

export function registerReplayCommand(program: Command, bind: Bind): Command {
  return program
    .command('replay')
    .description('Replay recorded inbound traffic to a candidate and judge its responses')
    .option('--traffic <dirs>', 'traffic directories DIR[,DIR...] (repeatable)', collectList)
    .option('--target <url>', 'candidate base URL')
    .addOption(new Option('--target-h2', 'send every request over HTTP/2, those recorded over HTTP/1.1 too: h2c for http://, ALPN h2 for https:// (replay.target_http2)'))
    .addOption(new Option('--protocol <protocol>', 'replay recorded inbound HTTP or gRPC calls (replay.protocol)').choices(['http', 'grpc']))
    .option('--concurrency <n>', 'sessions replayed in parallel')
    .option('--time-scale <x>', 'speed-up of recorded gaps (10 = ten times faster)')
    .option('--max-delay <seconds>', 'cap on any recorded gap')
    .option('--rate <rps>', 'open-model request rate instead of recorded timing')
    .option('--gates <file>', 'YAML file with quality_gates and/or cutoffs')
    .option('--report <dir>', 'report directory (summary.json, junit.xml, report.html, diffs.ndjson)')
    .option('--run-id <id>', 'run id for metrics and reports')
    .option('--baseline <dir>', 'report directory of an earlier run of the baseline build')
    .option('--include <filter>', 'only requests matching "METHOD /path/*" (repeatable)', collect)
    .option('--exclude <filter>', 'skip requests matching "METHOD /path/*" (repeatable)', collect)
    .option('--limit <n>', 'send at most N requests')
    .option('--duration <d>', 'stop after this long, e.g. 5m')
    .option('--warmup <n>', 'requests sent first but not judged')
    .option('--secondary <url>', 'a second baseline instance for noise learning')
    .option('--mock-admin <urls>', 'admin URLs of doppel mocks, for mock_match_rate', collectList)
    .addOption(new Option('--insecure', 'accept self-signed TLS certificates of the target'))
    .addOption(new Option('--dry-run', 'print what would be sent, send nothing'))
    .option('--coordinator <url>', 'join the distributed run --run-id through this Redis (redis://HOST:PORT/DB[?cluster=1])')
    .option('--load-only', 'with --coordinator: load the traffic into the run and leave')
    .option('--claim-timeout <seconds>', 'with --coordinator: a lost worker\'s sessions go to another after this long (default 30)')
    .option('--worker-id <id>', 'with --coordinator: this worker\'s name (default HOST-PID)')
    .option('--workers [n]', 'run N local worker processes on one run (default: the number of cores); with --coordinator they join it')
    .addOption(new Option('--ipc-worker <id>').hideHelp())
    .action(
      bind(async () => {
        const { replayAction, replayOverrides } = await import('./replay-action.js');
        return { action: replayAction, overrides: replayOverrides };
      }),
    );
}
