/**
 * Mocks that `doppel run` starts in-process, behind one narrow shape so the
 * orchestration does not care whether a dependency speaks HTTP, Postgres or gRPC.
 */
import type { ResolvedMock } from '../config/resolve.js';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { MockCounts } from '../gates/types.js';
import type { MockControl, UnmatchedProvider } from '../admin/types.js';

export interface RunningMock extends MockControl, UnmatchedProvider {
  readonly service: string;
  readonly protocol: 'http' | 'pg' | 'grpc';
  /** host:port it listens on */
  readonly address: string;
  /** recordings it serves */
  readonly loaded: number;
  counts(): MockCounts;
  close(): Promise<void>;
}

export interface MockStartContext {
  /** traffic directories, already resolved against the config file */
  traffic: string[];
  /** stub files, resolved */
  stubs: string[];
  log: Logger;
  metrics: Metrics;
}

export type MockFactory = (mock: Readonly<ResolvedMock>, ctx: MockStartContext) => Promise<RunningMock>;

export interface MockFactories {
  http: MockFactory;
  pg: MockFactory;
  grpc: MockFactory;
}
