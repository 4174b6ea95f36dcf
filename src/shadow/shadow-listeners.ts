/**
 * The listeners of `doppel shadow`, in the order they start: the primary's
 * HTTP dependency proxies (feeding the live mocks), the primary's Postgres
 * relays (feeding the candidate's Postgres live mocks), the candidate's HTTP
 * dependency ports, and last the inbound proxy in front of the primary with
 * the tee as its sink. Each started listener is kept, so a failed start and
 * a stop close them all.
 */
import { randomBytes } from 'node:crypto';
import type { ResolvedShadow } from '../config/resolve.js';
import { formatHostPort, parseHostPort } from '../core/address.js';
import type { Logger } from '../core/logger.js';
import { startHttpCaptureProxy, type HttpCaptureProxy, type ProxyLimits, type ProxyTimeouts } from '../capture/http-capture-proxy.js';
import { startPgRecorder } from '../capture/pg-recorder.js';
import type { CaptureSink } from '../capture/recorder.js';
import type { RecordDecision } from '../capture/record-filter.js';
import { createTraceLinks, traceparentOf, type TraceLinks } from '../protocols/http/trace-links.js';
import type { Metrics } from '../metrics/metrics.js';
import type { LiveMocks } from './live-mocks.js';
import { createPgFeedWriter } from './pg-feed-writer.js';
import type { ServerTls, TargetTls } from '../core/tls.js';

interface Closeable {
  close(graceMs?: number): Promise<void>;
}

export interface ShadowTls {
  listener?: ServerTls | undefined;
  primary?: TargetTls | undefined;
  candidate?: TargetTls | undefined;
  /** by dependency name */
  deps?: ReadonlyMap<string, TargetTls> | undefined;
}

export interface ShadowListenersOptions {
  shadow: Readonly<ResolvedShadow>;
  maxBodyBytes: number;
  /** the capture proxy's timeouts (record.timeouts): the primary path is the record path */
  timeouts: ProxyTimeouts;
  limits?: ProxyLimits | undefined;
  log: Logger;
  metrics: Metrics;
  /** certificates read at the edge: the inbound listener's and its targets' */
  tls?: ShadowTls | undefined;
}

export class ShadowListeners {
  /** primary dependency proxies by name */
  readonly deps = new Map<string, string>();
  /** candidate dependency ports by name */
  readonly candidateDeps = new Map<string, string>();
  readonly #started: Closeable[] = [];
  readonly #o: ShadowListenersOptions;
  /** The inbound proxy registers each trace; dependency proxies link the primary's calls to it. */
  readonly #traceLinks: TraceLinks = createTraceLinks();

  constructor(opts: ShadowListenersOptions) {
    this.#o = opts;
  }

  get #common() {
    const o = this.#o;
    return { maxBodyBytes: o.maxBodyBytes, timeouts: o.timeouts, limits: o.limits, traceLinks: this.#traceLinks, log: o.log, metrics: o.metrics };
  }

  /** a candidate dependency port started elsewhere (the Postgres live mocks) */
  addCandidateDep(name: string, listener: Closeable, address: string): void {
    this.#started.push(listener);
    this.candidateDeps.set(name, address);
  }

  async startPrimaryHttpDeps(liveMocks: LiveMocks | undefined): Promise<void> {
    for (const d of this.#o.shadow.http_deps) {
      const lm = liveMocks as LiveMocks;
      const p = await startHttpCaptureProxy({
        ...this.#common,
        listen: d.listen,
        listenFlag: `--http-dep ${d.name}=LISTEN,TARGET_URL (shadow.http_deps)`,
        target: d.target as string,
        targetTls: this.#o.tls?.deps?.get(d.name),
        upstreamHttp2: d.target_http2,
        service: d.name,
        direction: 'outbound',
        sink: { isPaused: false, offer: (ex) => lm.primarySink.offer(ex), skip: () => undefined },
        rewriteHost: true,
      });
      this.#started.push(p);
      this.deps.set(d.name, p.address);
    }
  }

  /** Each relay feeds what it decodes to the candidate's Postgres live mock of the same name, as it is recorded. */
  async startPgRelays(pgMocks: ReadonlyMap<string, Parameters<typeof createPgFeedWriter>[0]>): Promise<void> {
    const o = this.#o;
    for (const d of o.shadow.pg_deps) {
      const relay = await startPgRecorder({
        service: d.name,
        listen: parseHostPort(d.listen, `--pg-dep ${d.name} listen`),
        listenFlag: `--pg-dep ${d.name}=LISTEN,HOST:PORT (shadow.pg_deps)`,
        target: parseHostPort(d.target as string, `--pg-dep ${d.name} target`),
        writer: createPgFeedWriter(pgMocks.get(d.name)),
        // The candidate's copy asks for these answers right after the primary's response.
        drainDelayMs: 0,
        log: o.log,
        metrics: o.metrics,
        maxConnections: o.limits?.maxConnections,
      });
      this.#started.push(relay);
      this.deps.set(d.name, formatHostPort({ host: relay.address.address, port: relay.address.port }));
    }
  }

  async startCandidateHttpDeps(liveMocks: LiveMocks | undefined): Promise<void> {
    for (const d of this.#o.shadow.candidate_http_deps) {
      const s = await (liveMocks as LiveMocks).startMock(d.name, d.listen);
      this.addCandidateDep(d.name, s, s.address);
    }
  }

  /** Last: once it listens, the primary's traffic flows and copies reach the tee. */
  async startInbound(sink: CaptureSink, decide: (method: string, url: string) => RecordDecision): Promise<HttpCaptureProxy> {
    const cfg = this.#o.shadow;
    return startHttpCaptureProxy({
      ...this.#common,
      listen: cfg.listen as string,
      listenFlag: '--listen ADDR (shadow.listen)',
      target: cfg.primary as string,
      tls: this.#o.tls?.listener,
      targetTls: this.#o.tls?.primary,
      upstreamHttp2: cfg.primary_http2,
      service: 'primary',
      direction: 'inbound',
      sink,
      decide,
      rewriteHost: false,
      // W3C Trace Context: a fresh trace id and parent id, sampled flag set (https://www.w3.org/TR/trace-context/#traceparent-header).
      addRequestHeaders: cfg.inject_traceparent
        ? (raw) => (traceparentOf(raw) === undefined ? ['traceparent', `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`] : undefined)
        : undefined,
    });
  }

  /** closes every listener but the inbound proxy, which the caller closes first */
  async closeAll(graceMs: number): Promise<void> {
    await Promise.all(this.#started.map((s) => s.close(graceMs).catch(() => undefined)));
  }
}
