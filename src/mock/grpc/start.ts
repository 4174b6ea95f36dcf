/**
 * Starts one gRPC mock from a `mocks:` entry (protocol grpc) or a
 * `--grpc-dep` flag: reads its service's grpc exchanges, the stubs and the
 * descriptors, opens the passthrough recording when a target is set, then
 * serves. Shared by `doppel mock` and `doppel run`.
 */
import type { ResolvedConfig, ResolvedMock } from '../../config/resolve.js';
import type { GrpcConfig } from '../../config/schema.js';
import { DoppelError } from '../../core/errors.js';
import { isGrpcExchange, type GrpcExchange } from '../../core/exchange.js';
import type { Logger } from '../../core/logger.js';
import { createRedactor, resolveRedactKey } from '../../core/redact.js';
import { loadTargetTls, type ListenerTlsConfig as ListenerTls, type ServerTls, type TargetTls, type TargetTlsConfig } from '../../core/tls.js';
import type { Metrics } from '../../metrics/metrics.js';
import { configuredDescriptors } from '../../protocols/grpc/configured-descriptors.js';
import { openStoreReader, openStoreWriter } from '../../store/open-store.js';
import type { ExchangeWriter } from '../../store/types.js';
import { startGrpcMock, type GrpcMock, type GrpcPassthroughTarget } from './grpc-mock.js';
import { loadGrpcStubs } from './grpc-stubs.js';

export interface GrpcMockSpec {
  service: string;
  listen: string;
  listenFlag: string;
  traffic: string[];
  stubs: string[];
  tls?: ListenerTls | undefined;
  maxMessageBytes: number;
  unmatchedKeep: number;
  /** the real dependency misses pass through to: http://host:port (h2c) or https:// */
  target?: string | undefined;
  targetTls?: TargetTlsConfig | undefined;
  /** most time to the target's response headers */
  targetTimeoutMs?: number | undefined;
  /** traffic directory for passthrough exchanges (default: the first traffic directory) */
  recordOut?: string | undefined;
}

/** Passthrough answers wait this long for the target's headers when no mocks[].target_timeout is given. */
const DEFAULT_TARGET_TIMEOUT_MS = 30_000;

/** The spec a `mocks:` entry stands for; `abs` resolves its paths. */
export function grpcMockSpecFromConfig(m: Readonly<ResolvedMock>, abs: (p: string) => string): GrpcMockSpec {
  const list = (v: string | readonly string[] | undefined) => (v === undefined ? [] : typeof v === 'string' ? [v] : [...v]).map(abs);
  return {
    service: m.service,
    listen: m.listen,
    listenFlag: `mocks[${m.service}].listen`,
    traffic: list(m.traffic),
    stubs: list(m.stubs),
    tls: m.tls,
    maxMessageBytes: m.max_body_bytes,
    unmatchedKeep: m.unmatched_keep,
    target: m.target,
    targetTls: m.target_tls,
    targetTimeoutMs: m.target_timeout_ms,
    recordOut: m.record_out === undefined ? undefined : abs(m.record_out),
  };
}

export interface GrpcMockDeps {
  grpc: Readonly<GrpcConfig>;
  /** redaction of passthrough recordings */
  redact: Readonly<ResolvedConfig['redact']>;
  redactKey: string | undefined;
  cwd: string;
  log: Logger;
  metrics: Metrics;
  /** writers opened for passthrough recording, shared per directory; the caller closes them */
  writers: Map<string, ExchangeWriter>;
  serverTls(cfg: ListenerTls | undefined, label: string): Promise<ServerTls | undefined>;
  /** certificate loader that follows reloads (the daemon's); a plain loader when absent */
  targetTls?: (cfg: TargetTlsConfig | undefined, label: string) => TargetTls | undefined;
}

async function passthroughOf(spec: GrpcMockSpec, deps: GrpcMockDeps): Promise<GrpcPassthroughTarget | undefined> {
  if (spec.target === undefined) return undefined;
  if (!/^https?:\/\/[^/]+/i.test(spec.target)) {
    throw new DoppelError('DOPPEL_CONFIG_INVALID', `mocks[${spec.service}].target: ${spec.target} must be http://host:port (h2c) or https://host:port for a gRPC mock`);
  }
  const tls = (deps.targetTls ?? ((c, label) => loadTargetTls(c, label, deps.cwd)))(spec.targetTls, `mocks[${spec.service}].target_tls`);
  const recordDir = spec.recordOut ?? spec.traffic[0];
  let recordTo;
  if (recordDir !== undefined) {
    const key = await resolveRedactKey({ envKey: deps.redactKey, keyFile: deps.redact.key_file, trafficDirs: spec.traffic, cwd: deps.cwd });
    let writer = deps.writers.get(recordDir);
    if (writer === undefined) {
      writer = await openStoreWriter(recordDir);
      deps.writers.set(recordDir, writer);
    }
    const redactor = createRedactor({
      key: key.key,
      enabled: deps.redact.enabled,
      headers: deps.redact.headers,
      queryParams: deps.redact.query_params,
      jsonPaths: deps.redact.json_paths,
      onRedact: (kind) => deps.metrics.redactions.inc({ kind }),
    });
    recordTo = { writer, redactor };
  }
  return { target: spec.target, tls, headersTimeoutMs: spec.targetTimeoutMs ?? DEFAULT_TARGET_TIMEOUT_MS, recordTo };
}

export async function startGrpcMockFromSpec(spec: GrpcMockSpec, deps: GrpcMockDeps): Promise<GrpcMock> {
  // Config problems first: nothing is read or opened for a mock that cannot start.
  const passthrough = await passthroughOf(spec, deps);
  const descriptors = await configuredDescriptors(deps.grpc, deps.cwd);
  const stubs = spec.stubs.length === 0 ? undefined : loadGrpcStubs(spec.stubs, descriptors);
  const exchanges: GrpcExchange[] = [];
  if (spec.traffic.length > 0) {
    for await (const ex of openStoreReader(spec.traffic).read()) {
      if (isGrpcExchange(ex) && ex.service === spec.service) exchanges.push(ex);
    }
  }
  return startGrpcMock({
    service: spec.service,
    listen: spec.listen,
    listenFlag: spec.listenFlag,
    tls: await deps.serverTls(spec.tls, `mocks[${spec.service}].tls`),
    exchanges,
    stubs,
    descriptors,
    maxMessageBytes: spec.maxMessageBytes,
    unmatchedKeep: spec.unmatchedKeep,
    passthrough,
    log: deps.log,
    metrics: deps.metrics,
  });
}
