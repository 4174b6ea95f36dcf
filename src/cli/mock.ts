/** `doppel mock`: its flags and help; the action (mock-action.ts) is imported when it runs. */
import { Option, type Command } from 'commander';
import { collect, collectList, type Bind } from './context.js';

export function registerMockCommand(program: Command, bind: Bind): Command {
  return program
    .command('mock')
    .description('Serve HTTP and Postgres dependencies from recordings')
    .option('--traffic <dirs>', 'traffic directories DIR[,DIR...] (repeatable)', collectList)
    .option('--http-dep <spec>', 'HTTP mock NAME=LISTEN[,TARGET_URL]; with a target, misses pass through and are recorded (repeatable)', collect)
    .option('--pg-dep <spec>', 'Postgres mock NAME=LISTEN[,TARGET_HOST:PORT]; with a target, unmatched statements pass through and are recorded (repeatable)', collect)
    .option('--grpc-dep <spec>', 'gRPC mock NAME=LISTEN[,TARGET_URL] (h2c; mocks[].tls for h2 over TLS), answering from recorded grpc exchanges; with a target, misses pass through and are recorded (repeatable)', collect)
    .option('--grpc-stubs <file>', 'gRPC stubs in JSON for the --grpc-dep mocks; need descriptors (grpc.descriptors, grpc.protos) (repeatable)', collect)
    .option('--stubs <file>', 'WireMock-style stub mappings layered over recordings (repeatable)', collect)
    .addOption(new Option('--latency <mode>', 'replay recorded latency').choices(['recorded', 'none']))
    .option('--tls-cert <file>', 'serve the --http-dep mocks over TLS with this PEM certificate')
    .option('--tls-key <file>', 'the PEM private key of --tls-cert')
    .action(
      bind(async () => {
        const { mockAction, mockOverrides } = await import('./mock-action.js');
        return { action: mockAction, overrides: mockOverrides };
      }),
    );
}
