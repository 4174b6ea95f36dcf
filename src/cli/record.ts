import { Option, type Command } from 'commander';
import { notImplemented } from '../core/errors.js';
import { collect } from './context.js';
import type { Bind } from './program.js';

export interface RecordFlags {
  out?: string;
  listen?: string;
  upstream?: string;
  httpDep?: string[];
  pgDep?: string[];
  sample?: string;
  gzip?: boolean;
}

export function registerRecordCommand(program: Command, bind: Bind): Command {
  return program
    .command('record')
    .description('Record inbound traffic through a reverse proxy and outbound calls through dependency ports')
    .option('--out <dir>', 'traffic directory to write (created owner-only), or a redis:// URL')
    .option('--listen <addr>', 'inbound proxy address host:port (port 0 picks a free port)')
    .option('--upstream <url>', 'the service the inbound proxy forwards to')
    .option('--http-dep <spec>', 'HTTP dependency NAME=LISTEN,TARGET_URL (repeatable)', collect)
    .option('--pg-dep <spec>', 'Postgres dependency NAME=LISTEN,TARGET_HOST:PORT (repeatable)', collect)
    .option('--sample <rate>', 'share of exchanges recorded, 0..1')
    .addOption(new Option('--gzip', 'write gzip segments'))
    .action(bind<RecordFlags>(async () => {
      throw notImplemented('the record command');
    }));
}
