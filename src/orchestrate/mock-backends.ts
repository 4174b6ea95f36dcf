/**
 * The in-process mocks of `doppel run`, started with the same starters as
 * `doppel mock`, behind the one RunningMock shape the orchestration uses.
 */
import type { ResolvedConfig } from '../config/resolve.js';
import { formatHostPort } from '../core/address.js';
import { startHttpMockFromSpec, httpMockSpecFromConfig } from '../mock/start-http-mock.js';
import { startPgMockFromConfig } from '../mock/pg/start.js';
import { grpcMockSpecFromConfig, startGrpcMockFromSpec } from '../mock/grpc/start.js';
import { loadServerTls } from '../core/tls.js';
import type { ExchangeWriter } from '../store/types.js';
import type { MockFactories } from './backends.js';

export function createMockFactories(config: Readonly<ResolvedConfig>, opts: { redactKey: string | undefined; cwd: string; writers: Map<string, ExchangeWriter> }): MockFactories {
  return {
    async http(mock, ctx) {
      // Paths were resolved by the plan; keep them as they are.
      const spec = { ...httpMockSpecFromConfig(mock, (p) => p), traffic: ctx.traffic, stubs: ctx.stubs };
      const m = await startHttpMockFromSpec(spec, { config, log: ctx.log, metrics: ctx.metrics, redactKey: opts.redactKey, cwd: opts.cwd, writers: opts.writers });
      return {
        service: mock.service,
        protocol: 'http',
        address: m.address,
        loaded: m.loaded,
        counts: () => m.counts(),
        reset: () => m.reset(),
        unmatched: () => m.unmatched(),
        overflow: () => m.unmatchedOverflow(),
        close: () => m.close(),
      };
    },
    async pg(mock, ctx) {
      const m = await startPgMockFromConfig(mock, { traffic: ctx.traffic, ignore: config.compare.ignore, log: ctx.log, metrics: ctx.metrics, writers: opts.writers });
      return {
        service: mock.service,
        protocol: 'pg',
        address: formatHostPort({ host: m.address.address, port: m.address.port }),
        loaded: m.stats().recordings,
        counts: () => {
          const s = m.stats();
          return { matched: s.matched, unmatched: s.unmatched, passthrough: s.passthrough };
        },
        reset: () => m.reset(),
        unmatched: () => m.unmatched(),
        close: () => m.close(),
      };
    },
    async grpc(mock, ctx) {
      const spec = { ...grpcMockSpecFromConfig(mock, (p) => p), traffic: ctx.traffic, stubs: ctx.stubs };
      const m = await startGrpcMockFromSpec(spec, {
        grpc: config.grpc,
        redact: config.redact,
        redactKey: opts.redactKey,
        cwd: opts.cwd,
        log: ctx.log,
        metrics: ctx.metrics,
        writers: opts.writers,
        serverTls: (c, label) => loadServerTls(c, { label, log: ctx.log, cwd: opts.cwd }),
      });
      return {
        service: mock.service,
        protocol: 'grpc',
        address: formatHostPort({ host: m.address.address, port: m.address.port }),
        loaded: m.index.size,
        counts: () => m.counts(),
        reset: () => m.reset(),
        unmatched: () => m.unmatched(),
        close: () => m.close(),
      };
    },
  };
}
