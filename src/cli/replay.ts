import { Option, type Command } from 'commander';
import { notImplemented } from '../core/errors.js';
import { collect, collectList } from './context.js';
import type { Bind } from './program.js';

export interface ReplayFlags {
  traffic?: string[];
  target?: string;
  concurrency?: string;
  timeScale?: string;
  maxDelay?: string;
  rate?: string;
  gates?: string;
  report?: string;
  runId?: string;
  baseline?: string;
  include?: string[];
  exclude?: string[];
  limit?: string;
  duration?: string;
  warmup?: string;
  insecure?: boolean;
  dryRun?: boolean;
  mockAdmin?: string[];
  secondary?: string;
}

export function registerReplayCommand(program: Command, bind: Bind): Command {
  return program
    .command('replay')
    .description('Replay recorded inbound traffic to a candidate and judge its responses')
    .option('--traffic <dirs>', 'traffic directories DIR[,DIR...] (repeatable)', collectList)
    .option('--target <url>', 'candidate base URL')
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
    .action(bind<ReplayFlags>(async () => {
      throw notImplemented('the replay command');
    }));
}
