/** `doppel record`: its flags and help; the action (record-action.ts) is imported when it runs. */
import { Option, type Command } from 'commander';
import { collect, type Bind } from './context.js';

export function registerRecordCommand(program: Command, bind: Bind): Command {
  return program
    .command('record')
    .description('Record inbound traffic through a reverse proxy and outbound calls through dependency ports')
    .option('--out <dir>', 'traffic directory to write (created owner-only), or a redis:// URL')
    .option('--listen <addr>', 'inbound proxy address host:port (port 0 picks a free port)')
    .option('--upstream <url>', 'the service the inbound proxy forwards to')
    .addOption(new Option('--upstream-h2', 'send every request to the upstream over HTTP/2, HTTP/1.1 ones too: h2c for http://, ALPN h2 for https:// (record.upstream_http2)'))
    .option('--service <name>', 'name recorded for the service behind the inbound proxy (default "app")')
    .option('--http-dep <spec>', 'HTTP dependency NAME=LISTEN,TARGET_URL (repeatable)', collect)
    .option('--pg-dep <spec>', 'Postgres dependency NAME=LISTEN,TARGET_HOST:PORT (repeatable)', collect)
    .option('--grpc-dep <spec>', 'gRPC dependency NAME=LISTEN,TARGET_URL, http:// for h2c (repeatable)', collect)
    .addOption(new Option('--protocol <protocol>', 'what the inbound listener speaks (record.protocol)').choices(['http', 'grpc']))
    .option('--sample <rate>', 'share of exchanges recorded, 0..1')
    .option('--tls-cert <file>', 'serve the inbound proxy over TLS with this PEM certificate (record.tls.cert)')
    .option('--tls-key <file>', 'the PEM private key of --tls-cert (record.tls.key)')
    .addOption(new Option('--gzip', 'write gzip segments'))
    .option('--recorder-id <id>', 'names this recorder among those writing one store; prefixes its connection sessions (default host-pid-random)')
    .action(
      bind(async () => {
        const { recordAction, recordOverrides } = await import('./record-action.js');
        return { action: recordAction, overrides: recordOverrides };
      }),
    );
}
