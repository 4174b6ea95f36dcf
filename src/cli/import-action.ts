/** What `doppel import` runs: HAR, GoReplay or WireMock input written as a traffic directory. */
import { constants as fsConstants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { DoppelError, ExitCode, usageError } from '../core/errors.js';
import type { Exchange } from '../core/exchange.js';
import { createFileStoreWriter } from '../store/file-store.js';
import type { ExchangeWriter } from '../store/types.js';
import { harEntries, harToExchanges } from '../formats/har.js';
import { wireMockInput } from '../formats/wiremock-mappings.js';
import { importWireMock, readTrafficStubs, writeTrafficStubs } from '../formats/wiremock-import.js';
import { gorToExchanges } from '../formats/gor.js';
import { describeReport, emptyReport, parseJsonFile, type FormatReport } from '../formats/import-report.js';
import type { CommandContext } from './context.js';

export interface ImportFlags {
  out?: string;
  service?: string;
}

export type ImportFormat = 'har' | 'gor' | 'wiremock';

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

/** `wiremockService`: the service WireMock mappings stand for when --service is not given (its help names it). */
export async function importAction(format: ImportFormat, input: string, flags: ImportFlags, ctx: CommandContext, wiremockService: string): Promise<ExitCode> {
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
    case 'wiremock':
      return importWireMockMappings(file, input, out, flags.service ?? wiremockService, ctx);
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

/** Writes the exchanges; the directory is created at the first one, or at the end when `keepEmpty` says so. */
async function writeAll(
  dir: string,
  exchanges: Iterable<Exchange> | AsyncIterable<Exchange>,
  report: FormatReport,
  keepEmpty: () => boolean = () => true,
): Promise<void> {
  let writer: ExchangeWriter | undefined;
  try {
    for await (const ex of exchanges) {
      writer ??= await createFileStoreWriter({ dir });
      await writer.append(ex);
      report.written++;
    }
    if (writer === undefined && keepEmpty()) writer = await createFileStoreWriter({ dir });
  } finally {
    await writer?.close();
  }
}

/**
 * Concrete mappings become exchanges, patterns stubs in OUT/stubs/SERVICE.json
 * (loaded by the mock of SERVICE); an input of which nothing could be
 * imported is an input error, and nothing is written.
 */
async function importWireMockMappings(file: string, input: string, out: string, service: string, ctx: CommandContext): Promise<ExitCode> {
  const report = emptyReport();
  const stubs: Array<Record<string, unknown>> = [];
  const source = await wireMockInput(file);
  const earlier = await readTrafficStubs(out, service);
  const exchanges = importWireMock(source, { service, stubs, skip: (s) => report.skipped.push(s) });
  await writeAll(out, exchanges, report, () => stubs.length > 0);
  if (stubs.length > 0) report.notes.stubs = stubs.length;
  ctx.io.stderr.write(describeReport(report, 'imported', 'exchanges'));
  if (report.written === 0 && stubs.length === 0) {
    const why = report.skipped.length === 0 ? 'it holds no mappings' : `every mapping was skipped (${report.skipped.length} skipped, reasons above)`;
    throw new DoppelError('DOPPEL_INPUT_INVALID', `${input}: nothing imported: ${why}`);
  }
  if (stubs.length > 0) {
    const stubsFile = await writeTrafficStubs(out, service, [...earlier, ...stubs]);
    ctx.io.stderr.write(`stubs (patterns) written to ${stubsFile}; the mock of ${service} loads them with the recordings\n`);
  }
  ctx.io.stderr.write(`serve them with: doppel mock --traffic ${out} --http-dep ${service}=127.0.0.1:8081\n`);
  return ExitCode.ok;
}
