/**
 * The command set of DESIGN.md on commander. Each command lives in its own
 * file and registers itself; this file wires globals, help and exit codes.
 * Building the program loads commander and the registrations only: a
 * command's action, and config loading, are imported when it runs.
 */
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import type { ExitCode } from '../core/errors.js';
import type { Bind, CliIO, GlobalFlags } from './context.js';
import { registerRecordCommand } from './record.js';
import { registerMockCommand } from './mock.js';
import { registerReplayCommand } from './replay.js';
import { registerShadowCommand } from './shadow.js';
import { registerRunCommand } from './run.js';
import { registerTransformCommand } from './transform.js';
import { registerImportCommand } from './import.js';
import { registerExportCommand } from './export.js';
import { registerRulesCommand } from './rules.js';
import { registerReportCommand } from './report.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const LOG_FORMAT_FLAGS = ['pretty', 'json'] as const;

/** The package's own version: package.json sits two levels up from src/cli/ and from dist/cli/ alike. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
}

export function buildProgram(io: CliIO, setExit: (code: ExitCode) => void): Command {
  const program = new Command('doppel');
  program
    .description('Capture, mock and replay traffic of HTTP services and their HTTP and Postgres dependencies; judge a candidate build against a baseline.')
    .version(packageVersion(), '-V, --version')
    .option('--config <file>', 'YAML configuration file (flags override it)')
    .option('--admin <addr>', 'admin API address host:port (long-running commands default to 127.0.0.1:4190)')
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS))
    .addOption(new Option('--log-format <format>', 'log lines on stderr: pretty (for a person) or json (for machines); default pretty on a terminal, json otherwise').choices(LOG_FORMAT_FLAGS))
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .addHelpText(
      'after',
      `
Exit codes: 0 success / all gates pass, 1 a quality gate failed, 2 usage, config or input error,
3 run aborted (cutoff, SUT not ready, target unreachable), 4 internal error.
Docs: README.md; contract: DESIGN.md.`,
    );

  const bind: Bind = (load) => async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    const opts = cmd.opts();
    const all = cmd.optsWithGlobals<GlobalFlags>();
    const positional = args.slice(0, -2).filter((a): a is string => typeof a === 'string');
    const globals: GlobalFlags = {
      ...(all.config === undefined ? {} : { config: all.config }),
      ...(all.admin === undefined ? {} : { admin: all.admin }),
      ...(all.logLevel === undefined ? {} : { logLevel: all.logLevel }),
      ...(all.logFormat === undefined ? {} : { logFormat: all.logFormat }),
    };
    const [command, { loadCommandContext }] = await Promise.all([load(), import('./load-context.js')]);
    const ctx = loadCommandContext(io, globals, opts as never, positional, command);
    setExit(await command.action(opts as never, ctx, positional));
  };

  for (const register of [
    registerRecordCommand,
    registerMockCommand,
    registerReplayCommand,
    registerShadowCommand,
    registerRunCommand,
    registerTransformCommand,
    registerImportCommand,
    registerExportCommand,
    registerRulesCommand,
    registerReportCommand,
  ]) {
    const cmd = register(program, bind);
    cmd.exitOverride().configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });
    cmd.showHelpAfterError('(run with --help for usage)');
  }
  return program;
}
