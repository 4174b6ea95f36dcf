/** `doppel shadow`: its flags and help; the action (shadow-action.ts) is imported when it runs. */
import { Option, type Command } from 'commander';
import { collect, type Bind } from './context.js';

export function registerShadowCommand(program: Command, bind: Bind): Command {
  return program
    .command('shadow')
    .description('Tee live traffic to a candidate and compare responses; the primary never waits')
    .addOption(new Option('--protocol <protocol>', 'grpc: the listener is a gRPC service (HTTP/2); calls are teed and judged as gRPC (shadow.protocol)').choices(['http', 'grpc']))
    .option('--listen <addr>', 'address clients connect to')
    .option('--primary <url>', 'the build that answers clients')
    .option('--candidate <url>', 'the build under test (receives copies)')
    .addOption(new Option('--primary-h2', 'send every request to the primary (and the secondary) over HTTP/2, HTTP/1.1 ones too (shadow.primary_http2)'))
    .addOption(new Option('--candidate-h2', 'send every copy to the candidate over HTTP/2, copies of HTTP/1.1 requests too (shadow.candidate_http2)'))
    .option('--secondary <url>', 'a second primary instance for noise learning')
    .option('--gates <file>', 'YAML file with quality_gates and/or cutoffs')
    .option('--report <dir>', 'report directory written on demand and at shutdown')
    .option('--sample <rate>', 'share of requests copied to the candidate, 0..1 (0 turns shadowing off)')
    .option('--run-id <id>', 'run id for metrics and reports')
    .option('--http-dep <spec>', "primary's HTTP dependency NAME=LISTEN,TARGET_URL (repeatable)", collect)
    .option('--pg-dep <spec>', "primary's Postgres dependency NAME=LISTEN,HOST:PORT (repeatable)", collect)
    .option('--candidate-http-dep <spec>', "candidate's HTTP dependency port NAME=LISTEN, served from the primary's calls (repeatable)", collect)
    .option('--candidate-pg-dep <spec>', "candidate's Postgres dependency port NAME=LISTEN (repeatable)", collect)
    .addOption(new Option('--inject-traceparent', 'add a W3C traceparent to requests that have none'))
    .option('--tls-cert <file>', 'serve the listener over TLS with this PEM certificate (shadow.tls.cert)')
    .option('--tls-key <file>', 'the PEM private key of --tls-cert (shadow.tls.key)')
    .action(
      bind(async () => {
        const { shadowAction, shadowOverrides } = await import('./shadow-action.js');
        return { action: shadowAction, overrides: shadowOverrides };
      }),
    );
}
