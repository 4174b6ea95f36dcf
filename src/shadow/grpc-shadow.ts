/**
 * `doppel shadow` for a gRPC service (shadow.protocol: grpc): the gRPC
 * capture server (the same relay as `doppel record --protocol grpc`) in front
 * of the primary, relaying each stream's frames as they come, with the gRPC
 * tee as its sink; the tee sends each call to the candidate and judges the
 * pair with the judge, gates, metrics, noise learning (a secondary) and
 * report HTTP shadowing uses.
 */
import { startGrpcCapture, type GrpcCapture } from '../capture/grpc-capture.js';
import { createRecordFilter } from '../capture/record-filter.js';
import type { ResolvedShadow } from '../config/resolve.js';
import { newRunId } from '../core/ids.js';
import { compilePath } from '../core/json-path.js';
import { createRedactor } from '../core/redact.js';
import { configuredDescriptors, type DescriptorSources } from '../protocols/grpc/configured-descriptors.js';
import { createGrpcSender } from '../protocols/grpc/grpc-sender.js';
import { createGrpcTee } from './grpc-tee.js';
import type { ShadowRun } from './shadow-run.js';
import { createDropCounter, createShadowJudging, startShadowRun, teeJudgingOf } from './shadow-judging.js';
import { refuseShadowProblems, validateShadowConfig, type ShadowServiceOptions } from './shadow-service.js';
import type { TeeStats } from './shadow-tee.js';

export interface GrpcShadowOptions extends ShadowServiceOptions {
  /** the `grpc:` section: descriptors to judge messages as JSON (reflection asks the primary) */
  grpc: DescriptorSources;
  /** what relative descriptor paths are read against */
  cwd: string;
}

export interface GrpcShadowService {
  readonly address: string;
  readonly url: string;
  readonly run: ShadowRun;
  readonly tee: { stats(): TeeStats };
  close(): Promise<void>;
}

/** What HTTP shadowing has and gRPC shadowing does not yet: refused at start rather than ignored. */
export function grpcShadowProblems(cfg: Readonly<ResolvedShadow>): string[] {
  const problems: string[] = [];
  const httpOnly: Array<[string, boolean]> = [
    ['shadow.http_deps', cfg.http_deps.length > 0],
    ['shadow.pg_deps', cfg.pg_deps.length > 0],
    ['shadow.candidate_http_deps', cfg.candidate_http_deps.length > 0],
    ['shadow.candidate_pg_deps', cfg.candidate_pg_deps.length > 0],
    ['shadow.inject_traceparent', cfg.inject_traceparent],
  ];
  for (const [key, isSet] of httpOnly) if (isSet) problems.push(`${key}: not available with shadow.protocol grpc (HTTP shadowing only for now)`);
  for (const [key, url] of [['shadow.primary', cfg.primary], ['shadow.candidate', cfg.candidate], ['shadow.secondary', cfg.secondary]] as const) {
    if (url !== undefined && !/^https?:\/\//i.test(url)) problems.push(`${key}: ${url} must be http://host:port (h2c) or https://host:port for gRPC`);
  }
  return problems;
}

export async function startGrpcShadowService(opts: GrpcShadowOptions): Promise<GrpcShadowService> {
  const cfg = opts.shadow;
  refuseShadowProblems([...validateShadowConfig(cfg, opts.gates), ...grpcShadowProblems(cfg)]);
  const runId = opts.runId ?? newRunId();
  const tls = opts.tls ?? {};
  const pt = tls.primary;
  const descriptors = await configuredDescriptors(opts.grpc, opts.cwd, {
    url: cfg.primary as string,
    ...(pt === undefined ? {} : { tls: { ca: pt.ca, cert: pt.cert, key: pt.key, rejectUnauthorized: pt.rejectUnauthorized } }),
  });
  const now = opts.now ?? Date.now;
  const log = opts.log.child({ component: 'shadow', protocol: 'grpc' });
  const drainMs = cfg.drain_timeout_ms;
  const drop = createDropCounter(opts.metrics.shadowDropped, (reason) => shadowRun.drop(reason));
  const judging = createShadowJudging({ shadow: cfg, compare: opts.compare, gates: opts.gates, cutoffs: opts.cutoffs, runId, now, metrics: opts.metrics, drop, log });
  const ignoredHeaders = new Set<string>();
  for (const rule of opts.compare.ignore) {
    const p = compilePath(rule);
    if (p.kind === 'header') ignoredHeaders.add(p.name);
  }
  const candidate = createGrpcSender({ target: cfg.candidate as string, tls: tls.candidate, timeoutMs: cfg.timeout_ms, now: () => performance.now() });
  // The secondary is a second instance of the primary: it trusts what the primary is trusted with.
  const secondary = cfg.secondary === undefined ? undefined : createGrpcSender({ target: cfg.secondary, tls: tls.primary, timeoutMs: cfg.timeout_ms, now: () => performance.now() });
  const filter = createRecordFilter({ sample: cfg.sample, include: cfg.include, exclude: cfg.exclude, excludeHealth: false });
  const tee = createGrpcTee({
    candidate,
    secondary,
    descriptors,
    ignoredHeaders,
    decide: filter,
    ...teeJudgingOf(judging, cfg, drop, log),
  });
  const started = startShadowRun(judging, { shadow: cfg, runId, now, tee, log });
  const shadowRun = started.run;

  let capture: GrpcCapture;
  try {
    capture = await startGrpcCapture({
      listen: cfg.listen as string,
      listenFlag: '--listen ADDR (shadow.listen)',
      target: cfg.primary as string,
      tls: tls.listener,
      targetTls: tls.primary,
      service: 'primary',
      direction: 'inbound',
      sink: tee,
      // The candidate gets the call as the primary did: nothing of it is stored, so nothing is redacted.
      redactor: createRedactor({ key: Buffer.alloc(1), enabled: false }),
      maxBodyBytes: cfg.max_body_bytes,
      log: opts.log,
    });
  } catch (err) {
    started.stopExport();
    await Promise.all([candidate.close(), secondary?.close(), judging.pool.close()]);
    throw err;
  }
  const address = `${capture.address.address}:${capture.address.port}`;
  log.info({ address, primary: cfg.primary, candidate: cfg.candidate, runId, sample: cfg.sample, descriptors: descriptors?.methods().length ?? 0 }, 'shadow listening');

  let closing: Promise<void> | undefined;
  async function close(): Promise<void> {
    // 1. stop accepting and let the primary's open calls finish
    await capture.close(drainMs);
    // 2. drain queued and in-flight copies to the deadline
    await tee.drain(drainMs);
    await Promise.all([candidate.close(), secondary?.close(), judging.pool.close()]);
    // 3. final gate values for the last scrape, and the report
    await started.finish();
  }

  return {
    address,
    url: capture.url,
    run: shadowRun,
    tee,
    close() {
      closing ??= close();
      return closing;
    },
  };
}
