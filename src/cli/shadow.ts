import { Option, type Command } from 'commander';
import { notImplemented } from '../core/errors.js';
import { collect } from './context.js';
import type { Bind } from './program.js';

export interface ShadowFlags {
  listen?: string;
  primary?: string;
  candidate?: string;
  secondary?: string;
  gates?: string;
  report?: string;
  sample?: string;
  httpDep?: string[];
  pgDep?: string[];
  candidateHttpDep?: string[];
  candidatePgDep?: string[];
  injectTraceparent?: boolean;
}

export function registerShadowCommand(program: Command, bind: Bind): Command {
  return program
    .command('shadow')
    .description('Tee live traffic to a candidate and compare responses; the primary never waits')
    .option('--listen <addr>', 'address clients connect to')
    .option('--primary <url>', 'the build that answers clients')
    .option('--candidate <url>', 'the build under test (receives copies)')
    .option('--secondary <url>', 'a second primary instance for noise learning')
    .option('--gates <file>', 'YAML file with quality_gates and/or cutoffs')
    .option('--report <dir>', 'report directory written on demand and at shutdown')
    .option('--sample <rate>', 'share of requests copied to the candidate, 0..1')
    .option('--http-dep <spec>', "primary's HTTP dependency NAME=LISTEN,TARGET_URL (repeatable)", collect)
    .option('--pg-dep <spec>', "primary's Postgres dependency NAME=LISTEN,HOST:PORT (repeatable)", collect)
    .option('--candidate-http-dep <spec>', "candidate's HTTP dependency port NAME=LISTEN, served from the primary's calls (repeatable)", collect)
    .option('--candidate-pg-dep <spec>', "candidate's Postgres dependency port NAME=LISTEN (repeatable)", collect)
    .addOption(new Option('--inject-traceparent', 'add a W3C traceparent to requests that have none'))
    .action(bind<ShadowFlags>(async () => {
      throw notImplemented('the shadow command');
    }));
}
