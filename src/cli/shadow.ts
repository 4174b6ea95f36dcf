import { Option, type Command } from 'commander';
import { numeric, setIn, type ConfigOverrides } from '../config/overrides.js';
import { ExitCode, usageError } from '../core/errors.js';
import { createDaemon, proxyLimitsOf, proxyTimeoutsOf } from '../daemon.js';
import { startShadowService } from '../shadow/shadow-service.js';
import { startGrpcShadowService } from '../shadow/grpc-shadow.js';
import { collect, gatesOf, type CommandContext, type Bind } from './context.js';
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
function shadowOverrides(flags: ShadowFlags): ConfigOverrides {
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

export function registerShadowCommand(program: Command, bind: Bind): Command {
  return program
    .command('shadow')
    .description('Tee live traffic to a candidate and compare responses; the primary never waits')
    .addOption(new Option('--protocol <protocol>', 'grpc: the listener is a gRPC service (HTTP/2); calls are teed and judged as gRPC (shadow.protocol)').choices(['http', 'grpc']))
    .option('--listen <addr>', 'address clients connect to')
    .option('--primary <url>', 'the build that answers clients')
    .option('--candidate <url>', 'the build under test (receives copies)')
    .addOption(new Option('--primary-h2', 'send every request to the primary (and the secondary) over HTTP/2, HTTP/1.1 ones too (shadow.primary_http2)'))
    .addOption(new Option('--candidate-h2', 'send every copy to the candidate over HTTP/2, copies of HTTP/1.1 requests too (shadow.candidate_http2)'))
    .option('--secondary <url>', 'a second primary instance for noise learning')
    .option('--gates <file>', 'YAML file with quality_gates and/or cutoffs')
    .option('--report <dir>', 'report directory written on demand and at shutdown')
    .option('--sample <rate>', 'share of requests copied to the candidate, 0..1 (0 turns shadowing off)')
    .option('--run-id <id>', 'run id for metrics and reports')
    .option('--http-dep <spec>', "primary's HTTP dependency NAME=LISTEN,TARGET_URL (repeatable)", collect)
    .option('--pg-dep <spec>', "primary's Postgres dependency NAME=LISTEN,HOST:PORT (repeatable)", collect)
    .option('--candidate-http-dep <spec>', "candidate's HTTP dependency port NAME=LISTEN, served from the primary's calls (repeatable)", collect)
    .option('--candidate-pg-dep <spec>', "candidate's Postgres dependency port NAME=LISTEN (repeatable)", collect)
    .addOption(new Option('--inject-traceparent', 'add a W3C traceparent to requests that have none'))
    .option('--tls-cert <file>', 'serve the listener over TLS with this PEM certificate (shadow.tls.cert)')
    .option('--tls-key <file>', 'the PEM private key of --tls-cert (shadow.tls.key)')
    .action(bind<ShadowFlags>(shadowAction, { overrides: shadowOverrides }));
}
