import { Option, type Command } from 'commander';
import { notImplemented } from '../core/errors.js';
import { collect, collectList } from './context.js';
import type { Bind } from './program.js';

export interface MockFlags {
  traffic?: string[];
  httpDep?: string[];
  pgDep?: string[];
  stubs?: string[];
  latency?: 'recorded' | 'none';
}

export function registerMockCommand(program: Command, bind: Bind): Command {
  return program
    .command('mock')
    .description('Serve HTTP and Postgres dependencies from recordings')
    .option('--traffic <dirs>', 'traffic directories DIR[,DIR...] (repeatable)', collectList)
    .option('--http-dep <spec>', 'HTTP mock NAME=LISTEN[,TARGET_URL]; with a target, misses pass through and are recorded (repeatable)', collect)
    .option('--pg-dep <spec>', 'Postgres mock NAME=LISTEN[,TARGET_HOST:PORT] (repeatable)', collect)
    .option('--stubs <file>', 'WireMock-style stub mappings layered over recordings (repeatable)', collect)
    .addOption(new Option('--latency <mode>', 'replay recorded latency').choices(['recorded', 'none']))
    .action(bind<MockFlags>(async () => {
      throw notImplemented('the mock command');
    }));
}
