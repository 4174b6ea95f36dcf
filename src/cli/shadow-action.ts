/** What `doppel shadow` runs: the tee in front of the primary, copies judged against the candidate until a signal stops it. */
import { numeric, setIn, type ConfigOverrides } from '../config/overrides.js';
import { ExitCode, usageError } from '../core/errors.js';
import { createDaemon, proxyLimitsOf, proxyTimeoutsOf } from '../daemon.js';
import { startShadowService } from '../shadow/shadow-service.js';
import { startGrpcShadowService } from '../shadow/grpc-shadow.js';
import type { CommandContext } from './context.js';
import { gatesOf } from './load-context.js';
import { parseDepSpec } from './dep-spec.js';
import type { TargetTls } from '../core/tls.js';

export interface ShadowFlags {
  protocol?: 'http' | 'grpc';
  listen?: string;
  primary?: string;
  candidate?: string;
  secondary?: string;
  gates?: string;
  report?: string;
  sample?: string;
  runId?: string;
  httpDep?: string[];
  pgDep?: string[];
  candidateHttpDep?: string[];
  candidatePgDep?: string[];
  injectTraceparent?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  primaryH2?: boolean;
  candidateH2?: boolean;
}

/** The shadow flags that have a config key, written over shadow.* before validation. */
export function shadowOverrides(flags: ShadowFlags): ConfigOverrides {
  return (raw) => {
    const set = (key: string, value: unknown) => {
      if (value !== undefined) setIn(raw, ['shadow', key], value);
    };
    const shadow = (raw.shadow ?? {}) as Record<string, unknown>;
    const append = (key: string, flag: string, values: string[] | undefined, requireTarget: boolean) => {
      if (values === undefined) return;
      const existing = Array.isArray(shadow[key]) ? (shadow[key] as unknown[]) : [];
      set(key, [...existing, ...values.map((v) => parseDepSpec(flag, v, requireTarget))]);
    };
    set('protocol', flags.protocol);
    set('listen', flags.listen);
    set('primary', flags.primary);
    set('candidate', flags.candidate);
    if (flags.primaryH2 === true) set('primary_http2', true);
    if (flags.candidateH2 === true) set('candidate_http2', true);
    set('secondary', flags.secondary);
    set('report', flags.report);
    set('sample', flags.sample === undefined ? undefined : numeric(flags.sample));
    if (flags.tlsCert !== undefined) setIn(raw, ['shadow', 'tls', 'cert'], flags.tlsCert);
    if (flags.tlsKey !== undefined) setIn(raw, ['shadow', 'tls', 'key'], flags.tlsKey);
    if (flags.injectTraceparent === true) set('inject_traceparent', true);
    append('http_deps', '--http-dep', flags.httpDep, true);
    append('pg_deps', '--pg-dep', flags.pgDep, true);
    append('candidate_http_deps', '--candidate-http-dep', flags.candidateHttpDep, false);
    append('candidate_pg_deps', '--candidate-pg-dep', flags.candidatePgDep, false);
  };
}

export async function shadowAction(flags: ShadowFlags, ctx: CommandContext): Promise<ExitCode> {
  const config = ctx.config;
  const cfg = config.shadow;
  if (cfg.listen === undefined || cfg.primary === undefined || cfg.candidate === undefined) {
    throw usageError('shadow needs --listen ADDR, --primary URL and --candidate URL (or shadow.listen/primary/candidate in the config file)');
  }
  const { quality_gates: gates, cutoffs } = gatesOf(ctx, flags.gates);
  const daemon = createDaemon({ config, runtime: ctx.runtime, logStream: ctx.io.stderr, reload: ctx.io.reload, cwd: ctx.io.cwd });
  try {
    const deps = new Map<string, TargetTls>();
    for (const d of cfg.http_deps) {
      const t = daemon.targetTls(d.target_tls, `shadow.http_deps[${d.name}].target_tls`);
      if (t !== undefined) deps.set(d.name, t);
    }
    const tls = {
      listener: await daemon.serverTls(cfg.tls, 'shadow.tls'),
      primary: daemon.targetTls(cfg.primary_tls, 'shadow.primary_tls'),
      candidate: daemon.targetTls(cfg.candidate_tls, 'shadow.candidate_tls'),
      deps,
    };
    const options = {
      tls,
      shadow: cfg,
      compare: config.compare,
      gates,
      cutoffs,
      runId: flags.runId,
      log: daemon.log,
      metrics: daemon.metrics,
      timeouts: proxyTimeoutsOf(config.record.timeouts),
      limits: proxyLimitsOf(config.record),
    };
    const service =
      cfg.protocol === 'grpc'
        ? { ...(await startGrpcShadowService({ ...options, grpc: config.grpc, cwd: ctx.io.cwd })), deps: new Map<string, string>(), candidateDeps: new Map<string, string>() }
        : await startShadowService(options);
    let isStopped = false;
    try {
      daemon.providers.runs.push(service.run);
      daemon.providers.readiness.push(() => !isStopped);
      await daemon.serve(ctx.io.signal, () => {
        const admin = daemon.admin;
        const deps = [...service.deps].map(([n, a]) => ` ${n}=${a}`).join('');
        const cdeps = [...service.candidateDeps].map(([n, a]) => ` ${n}=${a}`).join('');
        ctx.io.stdout.write(
          `doppel shadow: listening on ${service.address} -> primary ${cfg.primary}, copies to ${cfg.candidate}; run ${service.run.id}` +
            `${admin ? `; admin ${admin.url}` : ''}${deps ? `; primary deps${deps}` : ''}${cdeps ? `; candidate deps${cdeps}` : ''}\n`,
        );
      });
      daemon.log.info('stopping: finishing primary requests, draining shadow copies');
    } finally {
      isStopped = true;
      await service.close();
    }
    const view = service.run.view() as { total: { verdict: string } };
    const hasGates = Object.keys(gates).length > 0;
    ctx.io.stdout.write(`doppel shadow: stopped; ${service.run.drops().queue_full} dropped (queue full); verdict ${hasGates ? view.total.verdict : 'n/a (no gates)'}${cfg.report ? `; report ${cfg.report}` : ''}\n`);
    if (!hasGates) return ExitCode.ok;
    return view.total.verdict === 'pass' ? ExitCode.ok : view.total.verdict === 'fail' ? ExitCode.gateFailed : ExitCode.aborted;
  } finally {
    await daemon.close();
  }
}
