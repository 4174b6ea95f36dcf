/** What `doppel export` runs: traffic written out as HAR, WireMock mappings, k6 scripts or grpcurl lines. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative, resolve as resolvePath } from 'node:path';
import { ExitCode, usageError } from '../core/errors.js';
import { isGrpcExchange, isHttpExchange, type Exchange } from '../core/exchange.js';
import { configuredDescriptors } from '../protocols/grpc/configured-descriptors.js';
import { listProtoFiles, type GrpcDescriptors } from '../protocols/grpc/descriptors.js';
import { grpcurlCommand, grpcurlPreamble, type GrpcurlSchema } from '../formats/grpcurl.js';
import { createK6GrpcScriptBuilder } from '../formats/k6-grpc-script.js';
import { createFileStoreReader } from '../store/file-store.js';
import { exchangeToHarEntry } from '../formats/har.js';
import { describeReport, emptyReport, note, type FormatReport } from '../formats/import-report.js';
import { exchangeToWireMockMapping } from '../formats/wiremock-mappings.js';
import { createK6ScriptBuilder } from '../formats/k6-script.js';
import { createTextSink } from '../formats/text-sink.js';
import type { CommandContext } from './context.js';

export interface ExportFlags {
  traffic?: string[];
  out?: string;
}

export type ExportFormat = 'har' | 'wiremock' | 'k6' | 'grpcurl' | 'k6-grpc';

/** Every exchange of the traffic directories, corrupt lines reported as skipped. */
function readTraffic(dirs: readonly string[], report: FormatReport): AsyncIterable<Exchange> {
  return createFileStoreReader(dirs).read({ onCorrupt: (c) => report.skipped.push({ where: `${c.source}:${c.line}`, reason: c.reason }) });
}

export async function exportAction(format: ExportFormat, flags: ExportFlags, ctx: CommandContext): Promise<ExitCode> {
  const traffic = (flags.traffic ?? []).map((d) => resolvePath(ctx.io.cwd, d));
  if (traffic.length === 0) throw usageError(`export ${format} needs --traffic DIR[,DIR...]`);
  if (flags.out === undefined) throw usageError(`export ${format} needs --out PATH`);
  const out = resolvePath(ctx.io.cwd, flags.out);
  const report = emptyReport();
  switch (format) {
    case 'har': {
      await exportHar(readTraffic(traffic, report), out, report, ctx.config.compare.max_body_bytes);
      break;
    }
    case 'wiremock':
      await exportWireMock(readTraffic(traffic, report), out, report);
      break;
    case 'k6':
      await exportK6(readTraffic(traffic, report), out, report);
      break;
    case 'grpcurl':
    case 'k6-grpc': {
      const config = ctx.config;
      const descriptors = await configuredDescriptors(config.grpc, ctx.io.cwd);
      const schema: GrpcurlSchema = {
        protosets: config.grpc.descriptors.map((f) => resolvePath(ctx.io.cwd, f)),
        protos: config.grpc.protos.map((d) => {
          const dir = resolvePath(ctx.io.cwd, d);
          return { dir, files: listProtoFiles(dir).map((f) => relative(dir, f)) };
        }),
      };
      await exportGrpc(format, readTraffic(traffic, report), out, report, descriptors, schema);
      break;
    }
    default: {
      const never: never = format;
      throw usageError(`unknown export format ${String(never)}`);
    }
  }
  ctx.io.stderr.write(describeReport(report, 'exported', 'exchanges'));
  return ExitCode.ok;
}

async function exportHar(exchanges: AsyncIterable<Exchange>, file: string, report: FormatReport, maxDecodedBytes: number): Promise<void> {
  const sink = await createTextSink(file);
  try {
    await sink.write('{"log":{"version":"1.2","creator":{"name":"doppel","version":"0.1.0"},"pages":[],"entries":[\n');
    let first = true;
    for await (const ex of exchanges) {
      if (!isHttpExchange(ex)) {
        note(report, 'pg exchanges left out (HAR holds HTTP only)');
        continue;
      }
      await sink.write(`${first ? '' : ',\n'}${JSON.stringify(exchangeToHarEntry(ex, { maxDecodedBytes }))}`);
      first = false;
      report.written++;
    }
    await sink.write('\n]}}\n');
  } finally {
    await sink.close();
  }
}

async function exportWireMock(exchanges: AsyncIterable<Exchange>, dir: string, report: FormatReport): Promise<void> {
  const mappings = join(dir, 'mappings');
  await mkdir(mappings, { recursive: true });
  let n = 0;
  for await (const ex of exchanges) {
    if (!isHttpExchange(ex)) {
      note(report, 'pg exchanges left out (WireMock serves HTTP only)');
      continue;
    }
    const mapping = exchangeToWireMockMapping(ex);
    n++;
    if (mapping === undefined) {
      report.skipped.push({ where: `exchange ${ex.id}`, reason: 'no response was recorded' });
      continue;
    }
    const slug = `${ex.http.request.method}-${ex.http.request.url.split('?')[0] ?? ''}`.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60);
    await writeFile(join(mappings, `${String(n).padStart(6, '0')}-${slug}.json`), `${JSON.stringify(mapping, null, 2)}\n`);
    report.written++;
  }
}

/** Inbound gRPC calls as grpcurl command lines or a k6/net/grpc script. */
async function exportGrpc(
  format: 'grpcurl' | 'k6-grpc',
  exchanges: AsyncIterable<Exchange>,
  file: string,
  report: FormatReport,
  descriptors: GrpcDescriptors | undefined,
  schema: GrpcurlSchema,
): Promise<void> {
  const script = format === 'k6-grpc' ? createK6GrpcScriptBuilder(descriptors, schema) : undefined;
  const sink = await createTextSink(file);
  try {
    if (script === undefined) await sink.write(grpcurlPreamble());
    for await (const ex of exchanges) {
      if (!isGrpcExchange(ex)) {
        note(report, `${ex.protocol} exchanges left out (${format} replays gRPC calls)`);
        continue;
      }
      if (ex.direction !== 'inbound') {
        note(report, 'outbound gRPC calls left out (they drive the service under test)');
        continue;
      }
      if (script !== undefined) {
        const added = script.add(ex);
        if (added.ok) report.written++;
        else report.skipped.push({ where: `exchange ${ex.id}`, reason: added.reason });
        continue;
      }
      const cmd = grpcurlCommand(ex, descriptors, schema);
      if ('reason' in cmd) {
        report.skipped.push({ where: `exchange ${ex.id}`, reason: cmd.reason });
        continue;
      }
      await sink.write(cmd.line);
      report.written++;
    }
    if (script !== undefined) await sink.write(script.render());
  } finally {
    await sink.close();
  }
}

async function exportK6(exchanges: AsyncIterable<Exchange>, file: string, report: FormatReport): Promise<void> {
  const script = createK6ScriptBuilder();
  for await (const ex of exchanges) {
    if (!isHttpExchange(ex)) note(report, 'pg exchanges left out');
    else if (ex.direction !== 'inbound') note(report, 'outbound exchanges left out (k6 drives the service under test)');
    else script.add(ex);
  }
  report.written = script.requests;
  const sink = await createTextSink(file);
  try {
    await sink.write(script.render());
  } finally {
    await sink.close();
  }
}
