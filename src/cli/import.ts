import { constants as fsConstants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { Argument, type Command } from 'commander';
import { DoppelError, ExitCode, usageError } from '../core/errors.js';
import type { Exchange } from '../core/exchange.js';
import { createFileStoreWriter } from '../store/file-store.js';
import { harEntries, harToExchanges } from '../formats/har.js';
import { wireMockFileToExchanges, wireMockMappingFiles } from '../formats/wiremock-mappings.js';
import { gorToExchanges } from '../formats/gor.js';
import { describeReport, emptyReport, parseJsonFile, type FormatReport } from '../formats/import-report.js';
import type { CommandContext } from './context.js';
import type { Bind } from './program.js';

export interface ImportFlags {
  out?: string;
  service?: string;
}

type ImportFormat = 'har' | 'gor' | 'wiremock';

export function registerImportCommand(program: Command, bind: Bind): Command {
  return program
    .command('import')
    .description('Import HAR, GoReplay (.gor) or WireMock mappings into a traffic directory')
    .addArgument(new Argument('<format>', 'input format').choices(['har', 'gor', 'wiremock']))
    .argument('<file>', 'input file (wiremock: a mappings file or a directory of them)')
    .option('--out <dir>', 'traffic directory to write')
    .option('--service <name>', 'who answered these requests (required for wiremock)')
    .action(bind<ImportFlags>((flags, ctx, args) => runImport(args[0] as ImportFormat, args[1] as string, flags, ctx)));
}

async function readInput(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (cause) {
    throw new DoppelError('DOPPEL_INPUT_INVALID', `${file}: cannot read it (${(cause as Error).message})`, { cause });
  }
}

async function checkReadable(file: string): Promise<void> {
  try {
    await access(file, fsConstants.R_OK);
  } catch (cause) {
    throw new DoppelError('DOPPEL_INPUT_INVALID', `${file}: cannot read it (${(cause as Error).message})`, { cause });
  }
}

export async function runImport(format: ImportFormat, input: string, flags: ImportFlags, ctx: CommandContext): Promise<ExitCode> {
  if (flags.out === undefined) throw usageError(`import ${format} needs --out DIR`);
  const file = resolvePath(ctx.io.cwd, input);
  const out = resolvePath(ctx.io.cwd, flags.out);
  const report = emptyReport();
  let exchanges: Iterable<Exchange> | AsyncIterable<Exchange>;
  switch (format) {
    case 'har': {
      const doc = parseJsonFile((await readInput(file)).toString('utf8'), input);
      const entries = harEntries(doc);
      if (entries === undefined) throw new DoppelError('DOPPEL_INPUT_INVALID', `${input}: not a HAR file (no log.entries list)`);
      exchanges = harToExchanges(entries, { service: flags.service, file: input }, (s) => report.skipped.push(s));
      break;
    }
    case 'wiremock': {
      const service = flags.service;
      if (service === undefined) throw usageError('import wiremock needs --service NAME (the dependency these mappings stand for)');
      const files = await wireMockMappingFiles(file);
      exchanges = (async function* () {
        for (const f of files) yield* await wireMockFileToExchanges(f, service, (s) => report.skipped.push(s));
      })();
      break;
    }
    case 'gor':
      await checkReadable(file);
      exchanges = gorToExchanges(file, flags.service, report);
      break;
    default: {
      const never: never = format;
      throw usageError(`unknown import format ${String(never)}`);
    }
  }
  await writeAll(out, exchanges, report);
  ctx.io.stderr.write(describeReport(report, 'imported', 'exchanges'));
  return ExitCode.ok;
}

async function writeAll(dir: string, exchanges: Iterable<Exchange> | AsyncIterable<Exchange>, report: FormatReport): Promise<void> {
  const writer = await createFileStoreWriter({ dir });
  try {
    for await (const ex of exchanges) {
      await writer.append(ex);
      report.written++;
    }
  } finally {
    await writer.close();
  }
}
