/**
 * One HTTP mock from a `mocks:` entry or a --http-dep flag, shared by
 * `doppel mock` and `doppel run` so both match, order and pass through alike.
 */
import type { ResolvedConfig, ResolvedMock } from '../config/resolve.js';
import { createRedactor, resolveRedactKey } from '../core/redact.js';
import { redactorFromConfig } from '../config/redactor.js';
import type { Logger } from '../core/logger.js';
import { loadServerTls, loadTargetTls, type ListenerTlsConfig, type ServerTls, type TargetTls, type TargetTlsConfig } from '../core/tls.js';
import type { Metrics } from '../metrics/metrics.js';
import { createCorruptReporter } from '../store/corrupt-reporter.js';
import { isRedisStoreUrl, openStoreReader, openStoreWriter } from '../store/open-store.js';
import type { ExchangeWriter } from '../store/types.js';
import { findTrafficStubFiles, loadWireMockStubFiles } from './wiremock-stubs.js';
import { startHttpMock, type HttpMock } from './http-mock.js';

/** One HTTP mock to start, from a flag or a `mocks:` entry of the config. */
export interface HttpMockSpec {
  service: string;
  listen: string;
  /** the flag or config key that sets `listen`, named if it cannot be bound */
  listenFlag: string;
  traffic: string[];
  target: string | undefined;
  stubs: string[];
  latency: 'recorded' | 'none';
  matchHeaders: string[];
  maxBodyBytes: number;
  /** mocks[].max_connections; no cap when absent */
  maxConnections?: number | undefined;
  unmatchedKeep: number;
  recordOut: string | undefined;
  /** the listener's `tls` and the target's `target_tls` */
  tls?: ListenerTlsConfig | undefined;
  targetTls?: TargetTlsConfig | undefined;
}

/** The spec a `mocks:` entry stands for; `abs` resolves its paths. */
export function httpMockSpecFromConfig(m: Readonly<ResolvedMock>, abs: (p: string) => string): HttpMockSpec {
  return {
    service: m.service,
    listen: m.listen,
    listenFlag: `mocks[${m.service}].listen`,
    traffic: (Array.isArray(m.traffic) ? m.traffic : [m.traffic]).map(abs),
    target: m.target,
    stubs: (m.stubs === undefined ? [] : Array.isArray(m.stubs) ? m.stubs : [m.stubs]).map(abs),
    latency: m.latency,
    matchHeaders: [...m.match_headers],
    maxBodyBytes: m.max_body_bytes,
    maxConnections: m.max_connections,
    unmatchedKeep: m.unmatched_keep,
    recordOut: m.record_out === undefined ? undefined : abs(m.record_out),
    tls: m.tls,
    targetTls: m.target_tls,
  };
}

export interface StartHttpMockDeps {
  config: Readonly<ResolvedConfig>;
  log: Logger;
  metrics: Metrics;
  redactKey: string | undefined;
  cwd: string;
  /** writers opened for passthrough recording, shared per directory; the caller closes them */
  writers: Map<string, ExchangeWriter>;
  /** certificate loaders that follow reloads (the daemon's); plain loaders when absent */
  serverTls?: (cfg: ListenerTlsConfig | undefined, label: string) => Promise<ServerTls | undefined>;
  targetTls?: (cfg: TargetTlsConfig | undefined, label: string) => TargetTls | undefined;
}

export async function startHttpMockFromSpec(spec: HttpMockSpec, deps: StartHttpMockDeps): Promise<HttpMock> {
  const { config, log, metrics } = deps;
  const tls = await (deps.serverTls ?? ((c, label) => loadServerTls(c, { label, log, cwd: deps.cwd })))(spec.tls, `mocks[${spec.service}].tls`);
  const targetTls = (deps.targetTls ?? ((c, label) => loadTargetTls(c, label, deps.cwd)))(spec.targetTls, `mocks[${spec.service}].target_tls`);
  const corrupt = createCorruptReporter(metrics, log);
  const exchanges = openStoreReader(spec.traffic).read({ onCorrupt: corrupt.onCorrupt });
  let recordTo;
  const recordDir = spec.recordOut ?? spec.traffic[0];
  if (spec.target !== undefined && recordDir !== undefined) {
    const key = await resolveRedactKey({ envKey: deps.redactKey, keyFile: config.redact.key_file, trafficDirs: spec.traffic, cwd: deps.cwd });
    let writer = deps.writers.get(recordDir);
    if (writer === undefined) {
      writer = await openStoreWriter(recordDir);
      deps.writers.set(recordDir, writer);
    }
    recordTo = {
      writer,
      redactor: redactorFromConfig(config.redact, key.key, (kind) => metrics.redactions.inc({ kind })),
    };
  }
  // stubs `doppel import wiremock` kept beside the recordings load with them
  const imported = await findTrafficStubFiles(spec.traffic.filter((t) => !isRedisStoreUrl(t)), spec.service);
  const stubs = await loadWireMockStubFiles([...spec.stubs, ...imported]);
  // Only the names of redacted query params and JSON paths are needed to match placeholders; the key is not.
  const redactor = createRedactor({ key: Buffer.alloc(1), queryParams: config.redact.query_params, jsonPaths: config.redact.json_paths });
  return startHttpMock({
    service: spec.service,
    listen: spec.listen,
    listenFlag: spec.listenFlag,
    tls,
    targetTls,
    exchanges,
    stubs,
    options: {
      latency: spec.latency,
      matchHeaders: spec.matchHeaders,
      ignore: config.compare.ignore,
      valueClasses: config.compare.value_classes,
      maxBodyBytes: spec.maxBodyBytes,
      maxDecodedBytes: config.compare.max_body_bytes,
      redactedQueryParams: redactor.queryParamNames,
      redactedJsonPaths: config.redact.json_paths,
      target: spec.target,
      unmatchedKeep: spec.unmatchedKeep,
      upstreamTimeoutMs: config.record.timeouts.upstream_ms,
      ...(spec.maxConnections === undefined ? {} : { maxConnections: spec.maxConnections }),
    },
    recordTo,
    log,
    metrics,
  });
}
