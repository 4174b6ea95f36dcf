/**
 * The admin API (DESIGN.md "Admin API and metrics"). Loopback by default; off
 * loopback every route but /healthz and /readyz needs the bearer token, and
 * the server refuses to start without one. No route takes a path or a command.
 */
import { timingSafeEqual } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from '../core/logger.js';
import { DoppelError } from '../core/errors.js';
import { isLoopbackHost, parseHostPort, formatHostPort } from '../core/address.js';
import { createHttpListener, listenFailure } from '../core/listen.js';
import type { ServerTls } from '../core/tls.js';
import type { Metrics } from '../metrics/metrics.js';
import type { AdminProviders } from './types.js';
import { registerHealthRoutes } from './health-routes.js';
import { registerRunRoutes } from './run-routes.js';
import { registerMockRoutes } from './mock-routes.js';
import { registerRecordRoutes } from './record-routes.js';

export interface AdminServerOptions {
  listen: string;
  token: string | undefined;
  metrics: Metrics;
  log: Logger;
  providers: AdminProviders;
  /** serve the API over TLS with this certificate (admin.tls) */
  tls?: ServerTls | undefined;
}

export interface AdminServer {
  readonly app: FastifyInstance;
  /** the bound address, with the real port when 0 was asked */
  readonly address: string;
  readonly url: string;
  close(): Promise<void>;
}

const OPEN_ROUTES = new Set(['/healthz', '/readyz']);

function tokenMatches(header: string | undefined, token: string): boolean {
  if (!header?.startsWith('Bearer ')) return false;
  const given = Buffer.from(header.slice('Bearer '.length));
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

/** Builds the app without listening (tests use inject or listen themselves). */
export function buildAdminApp(opts: Omit<AdminServerOptions, 'listen'> & { requireToken: boolean }): FastifyInstance {
  const logger: FastifyBaseLogger = opts.log.child({ component: 'admin' });
  const app: FastifyInstance = Fastify({
    loggerInstance: logger,
    // Per-request lines would drown the logs of a sidecar scraped every few seconds.
    logController: new LogController({ disableRequestLogging: true }),
    // The one listener factory, so admin gets the same TLS setup and certificate reloads as every other port.
    serverFactory: (handler) => createHttpListener({}, opts.tls, opts.log.child({ component: 'admin' })).on('request', handler),
  });
  if (opts.requireToken) {
    const token = opts.token as string;
    app.addHook('onRequest', async (req, reply) => {
      const path = req.url.split('?', 1)[0] ?? '';
      if (OPEN_ROUTES.has(path)) return;
      if (!tokenMatches(req.headers.authorization, token)) {
        await reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized', message: 'admin API needs "Authorization: Bearer <DOPPEL_ADMIN_TOKEN>"' });
      }
    });
  }
  registerHealthRoutes(app, opts.metrics, opts.providers);
  registerRunRoutes(app, opts.providers);
  registerMockRoutes(app, opts.providers);
  registerRecordRoutes(app, opts.providers);
  return app;
}

/** What moves the admin API, named when its address cannot be bound. */
const ADMIN_FLAG = '--admin ADDR (admin.listen)';

export async function startAdminServer(opts: AdminServerOptions): Promise<AdminServer> {
  const hp = parseHostPort(opts.listen, 'admin address');
  const requireToken = !isLoopbackHost(hp.host);
  if (requireToken && opts.token === undefined) {
    throw new DoppelError(
      'DOPPEL_ADMIN_TOKEN_REQUIRED',
      `admin API on ${opts.listen} is not loopback: set DOPPEL_ADMIN_TOKEN to a bearer token, or bind to 127.0.0.1`,
    );
  }
  const app = buildAdminApp({ ...opts, requireToken });
  try {
    await app.listen({ host: hp.host, port: hp.port });
  } catch (err) {
    await app.close().catch(() => undefined);
    throw listenFailure(err, formatHostPort(hp), ADMIN_FLAG);
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : hp.port;
  const address = formatHostPort({ host: hp.host, port });
  opts.log.info({ address, tls: opts.tls !== undefined }, 'admin api listening');
  return {
    app,
    address,
    url: `${opts.tls === undefined ? 'http' : 'https'}://${address}`,
    close: () => app.close(),
  };
}
