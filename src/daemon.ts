/**
 * Composition root: builds the logger, the metrics registry, the admin
 * providers and (when wanted) the admin server from a frozen config. Commands
 * get their components from here, never from module singletons.
 */
import { collectDefaultMetrics } from 'prom-client';
import type { Writable } from 'node:stream';
import pino from 'pino';
import type { DoppelConfig } from './config/schema.js';
import type { RuntimeEnv } from './config/env.js';
import { createLogger, type LogFormat, type Logger } from './core/logger.js';
import { createMetrics, type Metrics } from './metrics/metrics.js';
import { createAdminProviders, type AdminProviders } from './admin/types.js';
import { startAdminServer, type AdminServer } from './admin/server.js';

export interface Daemon {
  readonly config: Readonly<DoppelConfig>;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly providers: AdminProviders;
  /** set once startAdmin resolved */
  readonly admin: AdminServer | undefined;
  startAdmin(listen?: string): Promise<AdminServer>;
  /** closes the admin server and flushes logs; components close themselves first */
  close(): Promise<void>;
}

export interface DaemonOptions {
  config: Readonly<DoppelConfig>;
  runtime: RuntimeEnv;
  /** log destination; stderr when absent. Its isTTY picks the format when log.format is auto. */
  logStream?: Writable & { isTTY?: boolean };
}

export function createDaemon(opts: DaemonOptions): Daemon {
  const log = createLogger({
    level: opts.config.log.level as pino.LevelWithSilent,
    format: opts.config.log.format as LogFormat,
    ...(opts.logStream ? { destination: opts.logStream } : {}),
  });
  const metrics = createMetrics();
  // Process, heap, event-loop lag and GC pause metrics beside doppel's own: a sidecar's
  // effect on the service it fronts shows first in its pauses. The GC buckets resolve
  // the 1 ms pauses that move a primary's p99.
  collectDefaultMetrics({ register: metrics.registry, gcDurationBuckets: [0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.1, 1] });
  const providers = createAdminProviders();
  let admin: AdminServer | undefined;
  return {
    config: opts.config,
    log,
    metrics,
    providers,
    get admin() {
      return admin;
    },
    async startAdmin(listen = opts.config.admin.listen) {
      admin = await startAdminServer({ listen, token: opts.runtime.adminToken, metrics, log, providers });
      return admin;
    },
    async close() {
      if (admin) await admin.close();
      admin = undefined;
      log.flush();
    },
  };
}
