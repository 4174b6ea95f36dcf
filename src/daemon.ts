/**
 * Composition root: builds the logger, the metrics registry, the admin
 * providers and (when wanted) the admin server from a frozen config. Commands
 * get their components from here, never from module singletons.
 */
import { collectDefaultMetrics } from 'prom-client';
import type { Writable } from 'node:stream';
import pino from 'pino';
import type { ResolvedConfig, ResolvedTimeouts } from './config/resolve.js';
import type { RuntimeEnv } from './config/env.js';
import { createLogger, type LogFormat, type Logger } from './core/logger.js';
import { createMetrics, type Metrics } from './metrics/metrics.js';
import { createAdminProviders, type AdminProviders } from './admin/types.js';
import { startAdminServer, type AdminServer } from './admin/server.js';
import type { ProxyTimeouts } from './capture/http-capture-proxy.js';
import { loadServerTls, loadTargetTls, type ListenerTlsConfig, type ServerTls, type TargetTls, type TargetTlsConfig } from './core/tls.js';

export interface Daemon {
  readonly config: Readonly<ResolvedConfig>;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly providers: AdminProviders;
  /** set once startAdmin resolved */
  readonly admin: AdminServer | undefined;
  startAdmin(listen?: string): Promise<AdminServer>;
  /** a listener's certificate, checked now and re-read on every reload (SIGHUP); `label` is its config key */
  serverTls(cfg: ListenerTlsConfig | undefined, label: string): Promise<ServerTls | undefined>;
  /** a target's CA and client certificate, checked now; paths resolve against the working directory */
  targetTls(cfg: TargetTlsConfig | undefined, label: string): TargetTls | undefined;
  /** closes the admin server and flushes logs; components close themselves first */
  close(): Promise<void>;
}

export interface DaemonOptions {
  config: Readonly<ResolvedConfig>;
  runtime: RuntimeEnv;
  /** log destination; stderr when absent. Its isTTY picks the format when log.format is auto. */
  logStream?: Writable & { isTTY?: boolean };
  /** fires `reload` (SIGHUP): certificates are re-read */
  reload?: EventTarget | undefined;
  /** relative certificate paths resolve against it */
  cwd?: string | undefined;
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
  const certificates: ServerTls[] = [];
  const onReload = () => {
    // Each failure is logged by its ServerTls and leaves its current certificate in place.
    for (const c of certificates) c.reload().catch(() => undefined);
  };
  opts.reload?.addEventListener('reload', onReload);
  const serverTls = async (cfg: ListenerTlsConfig | undefined, label: string) => {
    const tls = await loadServerTls(cfg, { label, log, cwd: opts.cwd });
    if (tls !== undefined) certificates.push(tls);
    return tls;
  };
  return {
    config: opts.config,
    log,
    metrics,
    providers,
    get admin() {
      return admin;
    },
    async startAdmin(listen = opts.config.admin.listen) {
      const tls = await serverTls(opts.config.admin.tls, 'admin.tls');
      admin = await startAdminServer({ listen, token: opts.runtime.adminToken, metrics, log, providers, tls });
      return admin;
    },
    serverTls,
    targetTls: (cfg, label) => loadTargetTls(cfg, label, opts.cwd),
    async close() {
      opts.reload?.removeEventListener('reload', onReload);
      if (admin) await admin.close();
      admin = undefined;
      log.flush();
    },
  };
}

/** `record.timeouts` as the capture proxy takes them; record and shadow front their service with the same proxy. */
export function proxyTimeoutsOf(t: Readonly<ResolvedTimeouts>): ProxyTimeouts {
  return { headersMs: t.headers_ms, requestMs: t.request_ms, keepAliveMs: t.keep_alive_ms, upstreamMs: t.upstream_ms };
}
