/**
 * Starts one gRPC mock from a `mocks:` entry (protocol grpc) or a
 * `--grpc-dep` flag: reads its service's grpc exchanges, the stubs and the
 * descriptors, then serves.
 */
import type { GrpcConfig } from '../../config/schema.js';
import { isGrpcExchange, type GrpcExchange } from '../../core/exchange.js';
import type { Logger } from '../../core/logger.js';
import type { ListenerTlsConfig as ListenerTls, ServerTls } from '../../core/tls.js';
import type { Metrics } from '../../metrics/metrics.js';
import { configuredDescriptors } from '../../protocols/grpc/configured-descriptors.js';
import { openStoreReader } from '../../store/open-store.js';
import { startGrpcMock, type GrpcMock } from './grpc-mock.js';
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
}

export interface GrpcMockDeps {
  grpc: Readonly<GrpcConfig>;
  cwd: string;
  log: Logger;
  metrics: Metrics;
  serverTls(cfg: ListenerTls | undefined, label: string): Promise<ServerTls | undefined>;
}

export async function startGrpcMockFromSpec(spec: GrpcMockSpec, deps: GrpcMockDeps): Promise<GrpcMock> {
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
    log: deps.log,
    metrics: deps.metrics,
  });
}
