import { resolve as resolvePath } from 'node:path';
import { Option, type Command } from 'commander';
import { ExitCode, notImplemented, usageError } from '../core/errors.js';
import { collect, collectList, loadCommandConfig, type CommandContext } from './context.js';
import { parseDepSpec } from './dep-spec.js';
import type { Bind } from './program.js';
import type { DoppelConfig } from '../config/schema.js';
import { parseDurationMs, parseSizeBytes } from '../config/duration.js';
import { createDaemon, type Daemon } from '../daemon.js';
import { createRedactor, resolveRedactKey } from '../core/redact.js';
import { createFileStoreReader, createFileStoreWriter } from '../store/file-store.js';
import type { ExchangeWriter } from '../store/types.js';
import { createHttpMock, type HttpMock } from '../mock/http-mock.js';
import { loadWireMockStubFiles } from '../formats/wiremock-stubs.js';
import { waitForAbort } from './record.js';

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
    .action(bind<MockFlags>(runMock));
}

/** One HTTP mock to start, from a flag or a `mocks:` entry of the config. */
export interface HttpMockSpec {
  service: string;
  listen: string;
  traffic: string[];
  target: string | undefined;
  stubs: string[];
  latency: 'recorded' | 'none';
  matchHeaders: string[];
  maxBodyBytes: number;
  unmatchedKeep: number;
  recordOut: string | undefined;
}

export interface MockShared {
  config: Readonly<DoppelConfig>;
  daemon: Daemon;
  ctx: CommandContext;
  /** writers opened for passthrough recording, closed at stop */
  writers: Map<string, ExchangeWriter>;
}

export async function runMock(flags: MockFlags, ctx: CommandContext): Promise<ExitCode> {
  const config = loadCommandConfig(ctx);
  if (flags.pgDep !== undefined && flags.pgDep.length > 0) throw notImplemented('--pg-dep in mock');
  const httpSpecs = httpMockSpecs(flags, config, ctx);
  if (httpSpecs.length === 0) throw usageError('mock needs at least one --http-dep NAME=LISTEN[,TARGET_URL] (or a mocks: entry in the config file)');
  const daemon = createDaemon({ config, runtime: ctx.runtime, logStream: ctx.io.stderr });
  const shared: MockShared = { config, daemon, ctx, writers: new Map() };
  const mocks: HttpMock[] = [];
  try {
    mocks.push(...(await startHttpMocks(shared, httpSpecs)));
    if (config.admin.enabled) await daemon.startAdmin();
    daemon.log.info({ mocks: mocks.length }, 'mocks serving; stop with Ctrl-C');
    await waitForAbort(ctx.io.signal);
    daemon.log.info({ counts: Object.fromEntries(httpSpecs.map((s, i) => [s.service, mocks[i]?.counts()])) }, 'stopping mocks');
  } finally {
    for (const m of mocks) await m.close();
    for (const w of shared.writers.values()) await w.close();
    await daemon.close();
  }
  return ExitCode.ok;
}

function httpMockSpecs(flags: MockFlags, config: Readonly<DoppelConfig>, ctx: CommandContext): HttpMockSpec[] {
  const size = (v: string | number, d: number) => parseSizeBytes(v) ?? d;
  const abs = (p: string) => resolvePath(ctx.io.cwd, p);
  const specs: HttpMockSpec[] = [];
  for (const m of config.mocks) {
    if (m.protocol !== 'http') continue;
    specs.push({
      service: m.service,
      listen: m.listen,
      traffic: (Array.isArray(m.traffic) ? m.traffic : [m.traffic]).map(abs),
      target: m.target,
      stubs: (m.stubs === undefined ? [] : Array.isArray(m.stubs) ? m.stubs : [m.stubs]).map(abs),
      latency: flags.latency ?? m.latency,
      matchHeaders: m.match_headers,
      maxBodyBytes: size(m.max_body_bytes, 16 * 1024 * 1024),
      unmatchedKeep: m.unmatched_keep,
      recordOut: m.record_out === undefined ? undefined : abs(m.record_out),
    });
  }
  const traffic = (flags.traffic ?? []).map(abs);
  for (const v of flags.httpDep ?? []) {
    const dep = parseDepSpec('--http-dep', v, false);
    if (traffic.length === 0 && (flags.stubs ?? []).length === 0) throw usageError(`--http-dep ${dep.name}: mock needs --traffic DIR[,DIR...] or --stubs FILE`);
    if (dep.target !== undefined && !/^https?:\/\//i.test(dep.target)) throw usageError(`--http-dep ${dep.name}: target ${dep.target} must be an http:// or https:// URL`);
    specs.push({
      service: dep.name,
      listen: dep.listen,
      traffic,
      target: dep.target,
      stubs: (flags.stubs ?? []).map(abs),
      latency: flags.latency ?? 'none',
      matchHeaders: [],
      maxBodyBytes: 16 * 1024 * 1024,
      unmatchedKeep: 1000,
      recordOut: undefined,
    });
  }
  return specs;
}

/** One listener per HTTP dependency, registered with the admin API (reset, unmatched). */
async function startHttpMocks(shared: MockShared, specs: readonly HttpMockSpec[]): Promise<HttpMock[]> {
  const { config, daemon, ctx } = shared;
  const out: HttpMock[] = [];
  try {
    for (const spec of specs) {
      const reader = createFileStoreReader(spec.traffic);
      const exchanges = reader.read({
        onCorrupt: (r) => {
          daemon.metrics.storeCorruptLines.inc();
          daemon.log.warn({ file: r.source, line: r.line, reason: r.reason }, `skipped corrupt traffic line ${r.source}:${r.line}`);
        },
      });
      let recordTo;
      const recordDir = spec.recordOut ?? spec.traffic[0];
      if (spec.target !== undefined && recordDir !== undefined) {
        const key = await resolveRedactKey({ envKey: ctx.runtime.redactKey, keyFile: config.redact.key_file, trafficDirs: spec.traffic, cwd: ctx.io.cwd });
        let writer = shared.writers.get(recordDir);
        if (writer === undefined) {
          writer = await createFileStoreWriter({ dir: recordDir });
          shared.writers.set(recordDir, writer);
        }
        recordTo = {
          writer,
          redactor: createRedactor({
            key: key.key,
            enabled: config.redact.enabled,
            headers: config.redact.headers,
            queryParams: config.redact.query_params,
            jsonPaths: config.redact.json_paths,
            onRedact: (kind) => daemon.metrics.redactions.inc({ kind }),
          }),
        };
      }
      const stubs = await loadWireMockStubFiles(spec.stubs);
      const redactor = createRedactor({ key: Buffer.alloc(1), queryParams: config.redact.query_params, jsonPaths: config.redact.json_paths });
      const mock = await createHttpMock({
        service: spec.service,
        listen: spec.listen,
        exchanges,
        stubs,
        options: {
          latency: spec.latency,
          matchHeaders: spec.matchHeaders,
          ignore: config.compare.ignore,
          valueClasses: config.compare.value_classes,
          maxBodyBytes: spec.maxBodyBytes,
          redactedQueryParams: redactor.queryParamNames,
          redactedJsonPaths: config.redact.json_paths,
          target: spec.target,
          unmatchedKeep: spec.unmatchedKeep,
          upstreamTimeoutMs: parseDurationMs(config.record.timeouts.upstream) ?? 30_000,
        },
        recordTo,
        log: daemon.log,
        metrics: daemon.metrics,
      });
      out.push(mock);
      daemon.providers.mocks.push({ reset: () => mock.reset() });
      daemon.providers.unmatched.push({ unmatched: () => mock.unmatched() });
      daemon.providers.readiness.push(() => true);
    }
  } catch (err) {
    for (const m of out) await m.close();
    throw err;
  }
  return out;
}
