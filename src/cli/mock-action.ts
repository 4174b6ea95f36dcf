/** What `doppel mock` runs: HTTP, Postgres and gRPC mocks answering from recordings until a signal stops them. */
import { resolve as resolvePath } from 'node:path';
import { isRedisStoreUrl } from '../store/open-store.js';
import { ExitCode, usageError } from '../core/errors.js';
import type { CommandContext } from './context.js';
import { parseDepSpec } from './dep-spec.js';
import type { ConfigOverrides } from '../config/overrides.js';
import type { ResolvedConfig, ResolvedMock } from '../config/resolve.js';
import { createDaemon } from '../daemon.js';
import { httpMockSpecFromConfig, startHttpMockFromSpec, type HttpMockSpec } from '../mock/start-http-mock.js';
import { startPgMockFromConfig } from '../mock/pg/start.js';
import { grpcMockSpecFromConfig, startGrpcMockFromSpec, type GrpcMockSpec } from '../mock/grpc/start.js';

export interface MockFlags {
  traffic?: string[];
  httpDep?: string[];
  pgDep?: string[];
  grpcDep?: string[];
  grpcStubs?: string[];
  stubs?: string[];
  latency?: 'recorded' | 'none';
  tlsCert?: string;
  tlsKey?: string;
}

export async function mockAction(flags: MockFlags, ctx: CommandContext): Promise<ExitCode> {
  const config = ctx.config;
  const httpSpecs = httpMockSpecs(flags, config, ctx);
  const pgSpecs = pgMockSpecs(flags, config, ctx);
  const grpcSpecs = grpcMockSpecs(flags, config, ctx);
  if (httpSpecs.length === 0 && pgSpecs.length === 0 && grpcSpecs.length === 0) {
    throw usageError('mock needs at least one --http-dep NAME=LISTEN[,TARGET_URL], --grpc-dep NAME=LISTEN or --pg-dep NAME=LISTEN (or a mocks: entry in the config file)');
  }
  const daemon = createDaemon({ config, runtime: ctx.runtime, logStream: ctx.io.stderr, reload: ctx.io.reload, cwd: ctx.io.cwd });
  const mocks: Array<{ close(): Promise<void> }> = [];
  try {
    for (const spec of httpSpecs) {
      const mock = await startHttpMockFromSpec(spec, {
        config,
        log: daemon.log,
        metrics: daemon.metrics,
        redactKey: ctx.runtime.redactKey,
        cwd: ctx.io.cwd,
        writers: daemon.writers,
        serverTls: (c, label) => daemon.serverTls(c, label),
        targetTls: (c, label) => daemon.targetTls(c, label),
      });
      mocks.push(mock);
      daemon.providers.mocks.push({ reset: () => mock.reset() });
      daemon.providers.unmatched.push({ unmatched: () => mock.unmatched(), overflow: () => mock.unmatchedOverflow() });
    }
    for (const spec of pgSpecs) {
      const pg = await startPgMockFromConfig(spec.mock, { traffic: spec.traffic, ignore: config.compare.ignore, log: daemon.log, metrics: daemon.metrics, writers: daemon.writers, listenFlag: spec.listenFlag });
      mocks.push(pg);
      daemon.providers.mocks.push({ reset: () => pg.reset() });
      daemon.providers.unmatched.push({ unmatched: () => pg.unmatched() });
    }
    for (const spec of grpcSpecs) {
      const g = await startGrpcMockFromSpec(spec, {
        grpc: config.grpc,
        redact: config.redact,
        redactKey: ctx.runtime.redactKey,
        cwd: ctx.io.cwd,
        log: daemon.log,
        metrics: daemon.metrics,
        writers: daemon.writers,
        serverTls: (c, label) => daemon.serverTls(c, label),
        targetTls: (c, label) => daemon.targetTls(c, label),
      });
      mocks.push(g);
      daemon.providers.mocks.push({ reset: () => g.reset() });
      daemon.providers.unmatched.push({ unmatched: () => g.unmatched() });
    }
    await daemon.serve(ctx.io.signal, () => daemon.log.info({ mocks: mocks.length }, 'mocks serving; stop with Ctrl-C'));
    daemon.log.info('stopping mocks');
  } finally {
    // Mocks first; the daemon then closes the passthrough writers they shared.
    for (const m of mocks) await m.close();
    await daemon.close();
  }
  return ExitCode.ok;
}

/**
 * --http-dep / --pg-dep become `mocks:` entries after those of the file, so
 * they are validated (Postgres entries too) and resolved with them; --latency
 * applies to every HTTP mock. A flag that cannot make an entry is a usage error.
 */
export function mockOverrides(flags: MockFlags): ConfigOverrides {
  const traffic = flags.traffic ?? [];
  const stubs = flags.stubs ?? [];
  if ((flags.tlsCert !== undefined || flags.tlsKey !== undefined) && (flags.httpDep ?? []).length === 0) {
    throw usageError('--tls-cert/--tls-key serve the --http-dep mocks over TLS: give at least one --http-dep NAME=LISTEN (config mocks take mocks[].tls)');
  }
  const tls =
    flags.tlsCert === undefined && flags.tlsKey === undefined
      ? {}
      : { tls: { ...(flags.tlsCert === undefined ? {} : { cert: flags.tlsCert }), ...(flags.tlsKey === undefined ? {} : { key: flags.tlsKey }) } };
  const http = (flags.httpDep ?? []).map((v) => {
    const dep = parseDepSpec('--http-dep', v, false);
    if (traffic.length === 0 && stubs.length === 0) throw usageError(`--http-dep ${dep.name}: mock needs --traffic DIR[,DIR...] or --stubs FILE`);
    if (dep.target !== undefined && !/^https?:\/\//i.test(dep.target)) throw usageError(`--http-dep ${dep.name}: target ${dep.target} must be an http:// or https:// URL`);
    return { service: dep.name, protocol: 'http', listen: dep.listen, traffic, stubs, ...(dep.target === undefined ? {} : { target: dep.target }), ...tls };
  });
  const pg = (flags.pgDep ?? []).map((v) => {
    const dep = parseDepSpec('--pg-dep', v, false);
    if (traffic.length === 0) throw usageError(`--pg-dep ${dep.name}: mock needs --traffic DIR[,DIR...]`);
    return { service: dep.name, protocol: 'pg', listen: dep.listen, traffic, ...(dep.target === undefined ? {} : { target: dep.target }) };
  });
  return (raw) => {
    if (flags.latency === undefined && http.length === 0 && pg.length === 0) return;
    const existing: unknown[] = Array.isArray(raw.mocks) ? (raw.mocks as unknown[]) : [];
    const withLatency = (m: Record<string, unknown>) => (flags.latency === undefined || m.protocol !== 'http' ? m : { ...m, latency: flags.latency });
    const isEntry = (m: unknown): m is Record<string, unknown> => m !== null && typeof m === 'object' && !Array.isArray(m);
    raw.mocks = [...existing.map((m) => (isEntry(m) ? withLatency(m) : m)), ...http.map(withLatency), ...pg];
  };
}

/** What sets a mock's listen address: its config key, or the flag it came from (flag entries follow the file's). */
function listenFlagsOf(flags: MockFlags, mocks: readonly ResolvedMock[]): string[] {
  const fromFlags = (flags.httpDep ?? []).length + (flags.pgDep ?? []).length;
  return mocks.map((m, i) => {
    if (i < mocks.length - fromFlags) return `mocks[${m.service}].listen`;
    return m.protocol === 'http' ? `--http-dep ${m.service}=LISTEN[,TARGET_URL]` : `--pg-dep ${m.service}=LISTEN[,HOST:PORT]`;
  });
}

function httpMockSpecs(flags: MockFlags, config: Readonly<ResolvedConfig>, ctx: CommandContext): HttpMockSpec[] {
  const abs = (p: string) => (isRedisStoreUrl(p) ? p : resolvePath(ctx.io.cwd, p));
  const listenFlags = listenFlagsOf(flags, config.mocks);
  return config.mocks.flatMap((m, i) => (m.protocol === 'http' ? [{ ...httpMockSpecFromConfig(m, abs), listenFlag: listenFlags[i] as string }] : []));
}

/** gRPC mocks from `mocks:` entries (protocol grpc) and --grpc-dep flags. */
function grpcMockSpecs(flags: MockFlags, config: Readonly<ResolvedConfig>, ctx: CommandContext): GrpcMockSpec[] {
  const abs = (p: string) => (isRedisStoreUrl(p) ? p : resolvePath(ctx.io.cwd, p));
  const out: GrpcMockSpec[] = config.mocks.filter((m) => m.protocol === 'grpc').map((m) => grpcMockSpecFromConfig(m, abs));
  const traffic = (flags.traffic ?? []).map(abs);
  const stubs = (flags.grpcStubs ?? []).map(abs);
  for (const v of flags.grpcDep ?? []) {
    const dep = parseDepSpec('--grpc-dep', v, false);
    if (dep.target !== undefined && !/^https?:\/\//i.test(dep.target)) throw usageError(`--grpc-dep ${dep.name}: target ${dep.target} must be an http:// (h2c) or https:// URL`);
    if (traffic.length === 0 && stubs.length === 0) throw usageError(`--grpc-dep ${dep.name}: mock needs --traffic DIR[,DIR...] or --grpc-stubs FILE`);
    out.push({
      service: dep.name,
      listen: dep.listen,
      listenFlag: `--grpc-dep ${dep.name}=LISTEN[,TARGET_URL]`,
      traffic,
      stubs,
      maxMessageBytes: 16 * 1024 * 1024,
      unmatchedKeep: 1000,
      ...(dep.target === undefined ? {} : { target: dep.target }),
    });
  }
  return out;
}

/** One Postgres mock to start; listenFlag names what sets its address. */
interface PgMockSpec {
  mock: ResolvedMock;
  traffic: string[];
  listenFlag: string;
}

/** Postgres mocks from `mocks:` entries, those of --pg-dep flags included. */
function pgMockSpecs(flags: MockFlags, config: Readonly<ResolvedConfig>, ctx: CommandContext): PgMockSpec[] {
  const abs = (p: string) => (isRedisStoreUrl(p) ? p : resolvePath(ctx.io.cwd, p));
  const listenFlags = listenFlagsOf(flags, config.mocks);
  const out: PgMockSpec[] = [];
  config.mocks.forEach((m, i) => {
    if (m.protocol !== 'pg') return;
    const mock = m.record_out === undefined ? m : { ...m, record_out: abs(m.record_out) };
    out.push({ mock, traffic: (Array.isArray(m.traffic) ? m.traffic : [m.traffic]).map(abs), listenFlag: listenFlags[i] as string });
  });
  return out;
}
