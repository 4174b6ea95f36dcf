/**
 * The deployment files (Dockerfile, docker-compose.yml, deploy/**) cannot be
 * run here, so this checks everything about them that can be checked: they
 * parse, they name real paths, real stages, real flags, the ports and the
 * environment variables doppel reads, and their PromQL uses only metric
 * families and labels a live doppel scrape exposes.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../src/admin/server.js';
import { createAdminProviders } from '../../src/admin/types.js';
import { buildProgram } from '../../src/cli/program.js';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/core/logger.js';
import { isLoopbackHost, parseHostPort } from '../../src/core/address.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { requireTool } from '../helpers/services.js';
import { runCli } from '../helpers/cli.js';

const execFileAsync = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (rel: string) => readFileSync(join(ROOT, rel), 'utf8');

type Json = Record<string, any>;  

/** Environment variables doppel itself reads (src/config/env.ts is the only reader). */
const DOPPEL_ENV = new Set([...read('src/config/env.ts').matchAll(/env\.([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!));

function portOf(addr: string): number {
  return parseHostPort(addr, 'address').port;
}

// ---------------------------------------------------------------- metrics

let admin: AdminServer;
/** metric family name -> label names, from a live scrape plus the registry */
const families = new Map<string, Set<string>>();

beforeAll(async () => {
  const metrics = createMetrics();
  admin = await startAdminServer({
    listen: '127.0.0.1:0',
    token: undefined,
    metrics,
    log: createLogger({ level: 'silent' }),
    providers: createAdminProviders(),
  });
  const text = await (await fetch(`${admin.url}/metrics`)).text();
  const labelsOf = (name: string) => {
    const m = metrics.registry.getSingleMetric(name) as unknown as { labelNames?: readonly string[] } | undefined;
    return new Set(m?.labelNames ?? []);
  };
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const labels = labelsOf(name!);
    families.set(name!, labels);
    if (type === 'histogram') {
      families.set(`${name}_bucket`, new Set([...labels, 'le']));
      families.set(`${name}_sum`, labels);
      families.set(`${name}_count`, labels);
    }
  }
});

afterAll(async () => {
  await admin?.close();
});

/** Grafana variables replaced by values Prometheus accepts, so the PromQL can be checked as written. */
function concretePromql(expr: string): string {
  return expr.replace(/\$__rate_interval|\$__interval|\$__range/g, '5m').replace(/\$\{?(run_id|endpoint)\}?/g, '.*');
}

/** Every doppel metric name in an expression, and the label names it filters or groups by. */
function checkPromql(expr: string, where: string): void {
  const names = [...expr.matchAll(/\b(doppel_[a-z0-9_]+)/g)].map((m) => m[1]!);
  expect(names.length, `${where}: no doppel metric in ${expr}`).toBeGreaterThan(0);
  const known = new Set<string>();
  for (const n of names) {
    expect(families.has(n), `${where}: ${n} is not a metric doppel exports`).toBe(true);
    for (const l of families.get(n) ?? []) known.add(l);
  }
  for (const sel of expr.matchAll(/(doppel_[a-z0-9_]+)\{([^}]*)\}/g)) {
    for (const m of sel[2]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)/g)) {
      expect(families.get(sel[1]!)?.has(m[1]!), `${where}: ${sel[1]} has no label ${m[1]}`).toBe(true);
    }
  }
  for (const by of expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) {
    for (const label of by[1]!.split(',').map((s) => s.trim()).filter(Boolean)) {
      expect(known.has(label), `${where}: grouping by ${label}, which none of ${[...new Set(names)].join(', ')} carries`).toBe(true);
    }
  }
}

function dashboardExprs(): Array<{ where: string; expr: string }> {
  const dash = JSON.parse(read('deploy/grafana/doppel-dashboard.json')) as Json;
  const out: Array<{ where: string; expr: string }> = [];
  const walk = (panels: Json[]) => {
    for (const p of panels) {
      for (const t of (p.targets ?? []) as Json[]) out.push({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr as string });
      if (Array.isArray(p.panels)) walk(p.panels as Json[]);
    }
  };
  walk(dash.panels as Json[]);
  for (const v of dash.templating.list as Json[]) {
    if (v.type === 'query') out.push({ where: `variable ${v.name}`, expr: (v.query?.query ?? v.query) as string });
  }
  return out;
}

function rulesOf(file: string): Json[] {
  const doc = parse(read(file)) as Json;
  return (doc.groups as Json[]).flatMap((g) => g.rules as Json[]);
}

describe('Grafana dashboard', () => {
  const dash = JSON.parse(read('deploy/grafana/doppel-dashboard.json')) as Json;

  it('is templated by run_id and endpoint, and every panel filters by them where the metric has them', () => {
    const vars = (dash.templating.list as Json[]).map((v) => v.name as string);
    expect(vars).toEqual(expect.arrayContaining(['datasource', 'run_id', 'endpoint']));
    for (const { where, expr } of dashboardExprs()) {
      if (where.startsWith('variable')) continue;
      for (const sel of expr.matchAll(/(doppel_[a-z0-9_]+)\{([^}]*)\}/g)) {
        const labels = families.get(sel[1]!) ?? new Set();
        if (labels.has('run_id')) expect(sel[2], `${where}: ${sel[1]} not filtered by $run_id`).toContain('$run_id');
      }
    }
  });

  it('uses only metric families and labels that a live /metrics scrape of doppel exposes', () => {
    expect(families.size).toBeGreaterThanOrEqual(14);
    for (const { where, expr } of dashboardExprs()) checkPromql(expr, where);
  });

  it('shows match rates, gate status, latency by side, mock match rate and shadow drops', () => {
    const all = dashboardExprs().map((e) => e.expr).join('\n');
    expect(all).toContain('doppel_gate_passing');
    expect(all).toMatch(/histogram_quantile\(0\.95, sum by \([^)]*side[^)]*le\) \(rate\(doppel_response_duration_seconds_bucket/);
    expect(all).toMatch(/doppel_compare_total\{[^}]*result=~"match\|noise"/);
    expect(all).toContain('doppel_compare_fields_total');
    expect(all).toMatch(/doppel_mock_requests_total\{result="matched"\}/);
    expect(all).toContain('doppel_shadow_dropped_total');
  });

  it('has PromQL that Prometheus parses (checked by promtool as recording rules)', async (ctx) => {
    const promtool = requireTool(ctx, 'promtool', 'prometheus');
    const dir = await mkdtemp(join(tmpdir(), 'doppel-dashboard-'));
    try {
      const rules = dashboardExprs()
        .filter((e) => !e.where.startsWith('variable'))
        .map((e, i) => ({ record: `dashboard:expr_${i}`, expr: concretePromql(e.expr) }));
      await writeFile(join(dir, 'rules.yml'), stringify({ groups: [{ name: 'dashboard', rules }] }));
      const { stdout } = await execFileAsync(promtool, ['check', 'rules', join(dir, 'rules.yml')]);
      expect(stdout).toContain(`SUCCESS: ${rules.length} rules found`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('is provisioned with a datasource and a dashboard provider that compose mounts', () => {
    const ds = parse(read('deploy/grafana/provisioning/datasources/prometheus.yml')) as Json;
    expect(ds.datasources[0].type).toBe('prometheus');
    expect(ds.datasources[0].url).toBe('http://prometheus:9090');
    const provider = parse(read('deploy/grafana/provisioning/dashboards/doppel.yml')) as Json;
    const compose = parse(read('docker-compose.yml'), { merge: true }) as Json;
    const mounts = (compose.services.grafana.volumes as string[]).map((v) => v.split(':'));
    const dashMount = mounts.find(([src]) => src === './deploy/grafana/doppel-dashboard.json');
    expect(dashMount?.[1]?.startsWith(`${provider.providers[0].options.path}/`)).toBe(true);
  });
});

const RULE_FILES = ['deploy/prometheus/doppel-rules.yml', 'deploy/prometheus/doppel-operations-rules.yml'];

describe('Prometheus rules and configuration', () => {
  it('alert on doppel_gate_passing == 0 and on counter ratios, never on histogram quantiles; quantiles are recorded over buckets summed across workers', () => {
    const rules = RULE_FILES.flatMap(rulesOf);
    expect(rules.some((r) => /^min by \(run_id, gate\) \(doppel_gate_passing\{gate="[a-z0-9_]+"\}\) == 0$/.test(String(r.expr).trim()))).toBe(true);
    const recorded = new Map(rules.filter((r) => r.record !== undefined).map((r) => [String(r.record), String(r.expr)]));
    expect(recorded.size).toBeGreaterThan(0);
    for (const r of rules) {
      const expr = String(r.expr);
      // run:* series are recorded here (sums over a run's workers); the rest are metrics doppel exports
      const refs = [...expr.matchAll(/\b(run:[a-z0-9_]+:[a-z0-9_]+)/g)].map((m) => m[1]!);
      for (const ref of refs) expect(recorded.has(ref), `rule ${r.alert ?? r.record}: ${ref} is recorded`).toBe(true);
      if (refs.length === 0) checkPromql(expr, `rule ${r.alert ?? r.record}`);
      if (r.record === undefined) {
        expect(r.alert, 'an alert or a recording rule').toBeTypeOf('string');
        expect(expr).not.toContain('histogram_quantile');
        expect(expr).not.toMatch(/_bucket\b/);
        continue;
      }
      // a recording rule: raw buckets only summed by run with le kept, quantiles only over those sums
      if (/_bucket\[/.test(expr)) expect(expr).toMatch(/^sum by \(run_id, [a-z_, ]*\ble\) \(rate\(doppel_[a-z_]+_bucket\[\w+\]\)\)$/);
      const q = /^histogram_quantile\([\d.]+, (\S+)\)$/.exec(expr);
      if (expr.includes('histogram_quantile')) expect(recorded.get(q?.[1] ?? '') ?? '', expr).toMatch(/^sum by \(run_id, .*\ble\)/);
    }
  });

  it('keeps the gate alerts equal to what `doppel rules` prints for the compose demo gates', async () => {
    const res = await runCli(['rules', '--config', 'deploy/compose/doppel-shadow.yaml'], { cwd: ROOT });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(read('deploy/prometheus/doppel-rules.yml')).toBe(res.stdout);
  });

  it('pass promtool check rules and the rules unit tests', async (ctx) => {
    const promtool = requireTool(ctx, 'promtool', 'prometheus');
    const check = await execFileAsync(promtool, ['check', 'rules', ...RULE_FILES.map((f) => join(ROOT, f))]);
    expect(check.stdout.match(/SUCCESS: \d+ rules found/g)).toHaveLength(RULE_FILES.length);
    const unit = await execFileAsync(promtool, ['test', 'rules', join(ROOT, 'deploy/prometheus/tests/doppel-rules.test.yml')]);
    expect(unit.stdout).toContain('SUCCESS');
  });

  it('scrapes doppel on its admin port with the bearer token and loads the rules file (promtool check config)', async (ctx) => {
    const cfg = parse(read('deploy/prometheus/prometheus.yml')) as Json;
    const job = (cfg.scrape_configs as Json[]).find((j) => j.job_name === 'doppel')!;
    expect(job.metrics_path).toBe('/metrics');
    expect(job.authorization.type).toBe('Bearer');
    const compose = parse(read('docker-compose.yml'), { merge: true }) as Json;
    const adminFlag = (compose.services.doppel.command as string[]).indexOf('--admin');
    expect(job.static_configs[0].targets).toEqual([`doppel:${portOf(compose.services.doppel.command[adminFlag + 1])}`]);
    expect(job.authorization.credentials_file).toBe(`/run/secrets/${compose.services.prometheus.secrets[0]}`);
    expect(cfg.rule_files).toEqual(RULE_FILES.map((f) => f.replace('deploy/prometheus/', '')));
    const mounted = (compose.services.prometheus.volumes as string[]).map((v) => v.split(':'));
    for (const f of RULE_FILES) expect(mounted.some(([src, dst]) => src === `./${f}` && dst === `/etc/prometheus/${f.replace('deploy/prometheus/', '')}`), f).toBe(true);
    // The file's shape is checked above whether or not promtool is here to load it.
    const promtool = requireTool(ctx, 'promtool', 'prometheus');
    // promtool insists the token file exists: check a copy that points at a scratch token.
    const dir = await mkdtemp(join(tmpdir(), 'doppel-prometheus-'));
    try {
      await writeFile(join(dir, 'token'), 'scratch-token\n');
      job.authorization.credentials_file = join(dir, 'token');
      await writeFile(join(dir, 'prometheus.yml'), stringify(cfg));
      for (const f of RULE_FILES) await copyFile(join(ROOT, f), join(dir, f.replace('deploy/prometheus/', '')));
      const { stdout } = await execFileAsync(promtool, ['check', 'config', join(dir, 'prometheus.yml')]);
      expect(stdout).toMatch(/SUCCESS/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------- Dockerfile

interface Stage {
  from: string;
  name: string | undefined;
  lines: string[];
}

function dockerStages(text: string): Stage[] {
  const logical = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const stages: Stage[] = [];
  for (const line of logical) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) stages.push({ from: from[1]!, name: from[2], lines: [] });
    else stages.at(-1)?.lines.push(line);
  }
  return stages;
}

describe('Dockerfile', () => {
  const text = read('Dockerfile');
  const stages = dockerStages(text);
  const runtime = stages.at(-1)!;
  const instr = (stage: Stage, word: string) => stage.lines.filter((l) => l.toUpperCase().startsWith(`${word} `));

  it('is multi-stage on a current Node LTS slim image, building dist/ with npm run build', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const image = /^ARG NODE_IMAGE=(\S+)$/m.exec(text)?.[1];
    expect(image).toMatch(/^node:(22|24)-slim$/);
    for (const s of stages) expect(s.from).toMatch(/^(\$\{NODE_IMAGE\}|node:(22|24)-slim)$/);
    const build = stages.find((s) => s.lines.some((l) => /^RUN .*npm run build/.test(l)));
    expect(build?.name).toBeDefined();
    expect(build?.lines.some((l) => /^RUN npm ci\b/.test(l))).toBe(true);
    const tsconfig = JSON.parse(read('tsconfig.build.json')) as Json;
    expect(tsconfig.compilerOptions.outDir).toBe('dist');
    expect(tsconfig.compilerOptions.rootDir).toBe('src');
    expect(existsSync(join(ROOT, 'src/main.ts'))).toBe(true);
    expect(runtime.lines).toContain(`COPY --from=${build!.name} /app/dist ./dist`);
  });

  it('installs production dependencies only in the runtime stage and runs as a non-root user', () => {
    expect(instr(runtime, 'RUN').some((l) => /npm ci --omit=dev\b/.test(l))).toBe(true);
    const users = instr(runtime, 'USER');
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^USER\s+(root|0)(:|$)/);
  });

  it('starts node bin/doppel.js on the build through an exec-form ENTRYPOINT so SIGTERM reaches node', () => {
    const entry = instr(runtime, 'ENTRYPOINT').at(-1)!;
    const args = JSON.parse(entry.replace(/^ENTRYPOINT\s+/i, '')) as string[];
    expect(args.slice(0, 2)).toEqual(['node', 'bin/doppel.js']);
    // The bin that package.json publishes, switched to the build the stage copies.
    expect((JSON.parse(read('package.json')) as Json).bin.doppel).toBe('bin/doppel.js');
    expect(instr(runtime, 'ENV').some((l) => /\bDOPPEL_ENTRY=dist\b/.test(l))).toBe(true);
    expect(runtime.lines).toContain('COPY bin ./bin');
    expect(runtime.lines.some((l) => /^COPY .*\bsrc\b/.test(l))).toBe(false);
  });

  it('checks health with node on the admin port 4190 and exposes it', () => {
    const hc = instr(runtime, 'HEALTHCHECK').at(-1)!;
    expect(hc).toContain('CMD ["node", "-e"');
    expect(hc).toContain('http://127.0.0.1:4190/healthz');
    expect(hc).not.toMatch(/\bcurl\b|\bwget\b/);
    const exposed = instr(runtime, 'EXPOSE').flatMap((l) => l.split(/\s+/).slice(1));
    expect(exposed).toContain('4190');
    expect(portOf(parse(read('config/doppel.example.yaml')).admin.listen as string)).toBe(4190);
  });

  it('copies only paths that exist and that .dockerignore lets through', () => {
    const ignore = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#') && !l.startsWith('!'));
    for (const s of stages) {
      for (const l of instr(s, 'COPY').filter((c) => !c.includes('--from='))) {
        const parts = l.split(/\s+/).slice(1, -1);
        for (const src of parts) {
          expect(existsSync(join(ROOT, src)), `${src} (${l})`).toBe(true);
          expect(ignore.some((i) => i === src || src.startsWith(`${i}/`)), `${src} is in .dockerignore`).toBe(false);
        }
      }
    }
    expect(ignore).toEqual(expect.arrayContaining(['node_modules', '.git', 'dist']));
  });
});

// ---------------------------------------------------------------- compose

function commandFlags(program: Command, path: string[]): Set<string> {
  const flags = new Set(program.options.map((o) => o.long!));
  let cmd = program;
  for (const name of path) {
    cmd = cmd.commands.find((c) => c.name() === name)!;
    expect(cmd, `doppel has no command ${name}`).toBeDefined();
    for (const o of cmd.options) flags.add(o.long!);
  }
  return flags;
}

const sink = new Writable({ write: (_c, _e, cb) => cb() });
const program = buildProgram({ stdout: sink, stderr: sink, env: {}, signal: new AbortController().signal, cwd: ROOT }, () => {});

/** Splits doppel argv into the command name and its --flag value pairs. */
function doppelArgs(argv: string[]): { command: string; flags: Map<string, string> } {
  const flags = new Map<string, string>();
  let command = '';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--')) flags.set(a, argv[++i] ?? '');
    else if (command === '') command = a;
  }
  return { command, flags };
}

describe('docker-compose.yml', () => {
  const compose = parse(read('docker-compose.yml'), { merge: true }) as Json;
  const services = compose.services as Record<string, Json>;
  const stageNames = new Set(dockerStages(read('Dockerfile')).map((s) => s.name));

  it('has doppel, orders v1 and v2, Postgres, Redis, Prometheus and Grafana', () => {
    expect(Object.keys(services)).toEqual(
      expect.arrayContaining(['doppel', 'orders-v1', 'orders-v2', 'postgres', 'redis', 'prometheus', 'grafana', 'payment-api', 'traffic']),
    );
  });

  it('mounts and builds only what exists in the repository', () => {
    for (const [name, svc] of Object.entries(services)) {
      if (svc.build) {
        expect(svc.build.context).toBe('.');
        expect(stageNames.has(svc.build.target as string), `${name}: Dockerfile has no stage ${svc.build.target}`).toBe(true);
      }
      for (const v of (svc.volumes ?? []) as string[]) {
        const src = v.split(':')[0]!;
        if (src.startsWith('./')) expect(existsSync(join(ROOT, src)), `${name}: ${src}`).toBe(true);
      }
      const cmd = ([] as string[]).concat(svc.command ?? []).join(' ');
      for (const f of cmd.matchAll(/(examples\/\S+\.ts)/g)) expect(existsSync(join(ROOT, f[1]!)), `${name}: ${f[1]}`).toBe(true);
    }
  });

  it('gives doppel only flags its commands have, and a token wherever the admin API leaves loopback', () => {
    for (const [name, svc] of Object.entries(services)) {
      if (!/^doppel/.test(name)) continue;
      const { command, flags } = doppelArgs(svc.command as string[]);
      const known = commandFlags(program, [command]);
      for (const f of flags.keys()) expect(known.has(f), `${name}: doppel ${command} has no ${f}`).toBe(true);
      const adminAddr = flags.get('--admin');
      expect(adminAddr, `${name}: --admin`).toBeDefined();
      expect(isLoopbackHost(parseHostPort(adminAddr!, 'admin').host)).toBe(false);
      expect(svc.environment.DOPPEL_ADMIN_TOKEN, `${name}: DOPPEL_ADMIN_TOKEN`).toBeDefined();
      for (const key of Object.keys(svc.environment as Json)) expect(DOPPEL_ENV.has(key), `${name}: doppel reads no ${key}`).toBe(true);
      const health = svc.healthcheck?.test?.join(' ') as string | undefined;
      if (health) expect(health).toContain(`127.0.0.1:${portOf(adminAddr!)}/healthz`);
    }
  });

  it('shadows orders v1 to v2, with a config file that doppel accepts', () => {
    const { command, flags } = doppelArgs(services.doppel!.command as string[]);
    expect(command).toBe('shadow');
    const target = (svc: Json) => `http://${Object.keys(services).find((k) => services[k] === svc)}:${svc.environment.PORT}`;
    expect(flags.get('--primary')).toBe(target(services['orders-v1']!));
    expect(flags.get('--candidate')).toBe(target(services['orders-v2']!));
    const mount = (services.doppel!.volumes as string[]).map((v) => v.split(':')).find(([, dst]) => dst === flags.get('--config'));
    expect(mount).toBeDefined();
    const file = join(ROOT, mount![0]!);
    const cfg = parseConfig(readFileSync(file, 'utf8'), file, {});
    expect(cfg.shadow.primary).toBe(flags.get('--primary'));
    expect(cfg.shadow.candidate).toBe(flags.get('--candidate'));
    expect(cfg.admin.listen).toBe(flags.get('--admin'));
    expect(cfg.quality_gates).toHaveProperty('body_match_rate');
    expect(cfg.compare.ignore).toEqual([]);
  });

  it('points the orders builds at the compose Postgres and payment API, and the traffic at doppel', () => {
    const pg = services.postgres!.environment as Json;
    expect(pg.POSTGRES_DB).toBe('doppel_demo');
    expect((services.postgres!.volumes as string[])[0]).toBe('./examples/orders/schema.sql:/docker-entrypoint-initdb.d/01-schema.sql:ro');
    for (const name of ['orders-v1', 'orders-v2']) {
      const env = services[name]!.environment as Json;
      expect(env.HOST).toBe('0.0.0.0');
      const db = new URL(env.DATABASE_URL as string);
      expect(`${db.hostname}${db.pathname}`).toBe(`postgres/${pg.POSTGRES_DB}`);
      expect(env.PAYMENT_API_URL).toBe(`http://payment-api:${services['payment-api']!.environment.PORT}`);
    }
    const listen = doppelArgs(services.doppel!.command as string[]).flags.get('--listen')!;
    expect(services.traffic!.command.join(' ')).toContain(`--target http://doppel:${portOf(listen)}`);
  });
});

// ---------------------------------------------------------------- Kubernetes

describe('Kubernetes manifests', () => {
  const dir = join(ROOT, 'deploy/kubernetes');
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  const docs: Json[] = files.flatMap((f) =>
    parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => {
      expect(d.errors, f).toEqual([]);
      return d.toJS() as Json;
    }),
  );
  const byKind = (kind: string) => docs.filter((d) => d.kind === kind);
  const deployment = byKind('Deployment')[0]!;
  const pod = deployment.spec.template.spec as Json;
  const sidecar = (pod.initContainers as Json[]).find((c) => c.name === 'doppel')!;
  const app = (pod.containers as Json[]).find((c) => c.name === 'orders')!;
  const configMap = byKind('ConfigMap').find((c) => c.metadata.name === 'doppel-config')!;
  const configText = configMap.data['doppel.yaml'] as string;
  const config = parseConfig(configText, 'configmap doppel-config/doppel.yaml', {});
  const envOf = (c: Json) => new Map(((c.env ?? []) as Json[]).map((e) => [e.name as string, e]));

  it('lists every manifest in the kustomization', () => {
    const k = parse(read('deploy/kubernetes/kustomization.yaml')) as Json;
    // replay-job.yaml is applied on its own: applying it starts a replay run.
    expect([...(k.resources as string[])].sort()).toEqual(files.filter((f) => f !== 'kustomization.yaml' && f !== 'replay-job.yaml').sort());
  });

  it('runs doppel as a sidecar with no privilege: non-root, read-only root, every capability dropped', () => {
    expect(sidecar.restartPolicy).toBe('Always');
    expect(pod.hostNetwork).toBeUndefined();
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    for (const c of [...(pod.initContainers as Json[]), ...(pod.containers as Json[])]) {
      const sc = c.securityContext as Json;
      expect(sc.privileged ?? false, c.name).toBe(false);
      expect(sc.allowPrivilegeEscalation, c.name).toBe(false);
      expect(sc.readOnlyRootFilesystem, c.name).toBe(true);
      expect(sc.runAsNonRoot ?? pod.securityContext.runAsNonRoot, c.name).toBe(true);
      expect(sc.capabilities.drop, c.name).toEqual(['ALL']);
      expect(sc.capabilities.add, c.name).toBeUndefined();
    }
  });

  it('loads a config that doppel accepts, from the mounted ConfigMap', () => {
    const args = sidecar.args as string[];
    const { command, flags } = doppelArgs(args);
    expect(command).toBe('record');
    for (const f of flags.keys()) expect(commandFlags(program, [command]).has(f), f).toBe(true);
    const mount = (sidecar.volumeMounts as Json[]).find((m) => flags.get('--config')!.startsWith(`${m.mountPath}/`))!;
    const volume = (pod.volumes as Json[]).find((v) => v.name === mount.name)!;
    expect(volume.configMap.name).toBe(configMap.metadata.name);
    expect(flags.get('--config')).toBe(`${mount.mountPath}/doppel.yaml`);
    // Where it writes is a writable volume (the root filesystem is read-only).
    const out = config.record.out!;
    expect((sidecar.volumeMounts as Json[]).some((m) => out.startsWith(`${m.mountPath}/`) && !m.readOnly)).toBe(true);
  });

  it('sets DOPPEL_ADMIN_TOKEN from a Secret because the admin API binds off loopback, and no variable doppel does not read', () => {
    expect(isLoopbackHost(parseHostPort(config.admin.listen, 'admin').host)).toBe(false);
    const env = envOf(sidecar);
    expect(env.get('DOPPEL_ADMIN_TOKEN')?.valueFrom?.secretKeyRef).toBeDefined();
    for (const name of env.keys()) expect(DOPPEL_ENV.has(name), name).toBe(true);
    const admin = (sidecar.ports as Json[]).find((p) => p.name === 'admin')!;
    expect(admin.containerPort).toBe(portOf(config.admin.listen));
    for (const probe of [sidecar.startupProbe, sidecar.readinessProbe, sidecar.livenessProbe] as Json[]) {
      expect(probe.httpGet.port).toBe('admin');
      expect(['/healthz', '/readyz']).toContain(probe.httpGet.path);
    }
  });

  it('points the app at the sidecar: inbound through the record proxy, outbound through the dependency ports', () => {
    const env = envOf(app);
    expect(env.get('HOST')?.value).toBe('127.0.0.1');
    expect(new URL(config.record.upstream!).port).toBe(env.get('PORT')?.value);
    const http = (sidecar.ports as Json[]).find((p) => p.name === 'http')!;
    expect(http.containerPort).toBe(portOf(config.record.listen));
    const payments = config.record.http_deps.find((d) => d.name === 'payments')!;
    expect(env.get('PAYMENT_API_URL')?.value).toBe(`http://${payments.listen}`);
    const db = config.record.pg_deps.find((d) => d.name === 'db')!;
    const dbUrl = new URL((env.get('DATABASE_URL')?.value as string).replace('$(DB_PASSWORD)', 'x'));
    expect(`${dbUrl.hostname}:${dbUrl.port}`).toBe(db.listen);
    for (const dep of [...config.record.http_deps, ...config.record.pg_deps]) {
      expect(isLoopbackHost(parseHostPort(dep.listen, 'dep').host), `${dep.name} stays inside the pod`).toBe(true);
    }
    expect(app.readinessProbe.httpGet.port).toBe('http');
    expect(config.record.exclude_health).toBe(true);
  });

  it('exposes the record proxy and the admin port through the Service, scraped by the ServiceMonitor', () => {
    const svc = byKind('Service')[0]!;
    const named = new Set((sidecar.ports as Json[]).map((p) => p.name as string));
    for (const p of svc.spec.ports as Json[]) expect(named.has(p.targetPort as string), p.name).toBe(true);
    expect(svc.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    const sm = byKind('ServiceMonitor')[0]!;
    expect((svc.spec.ports as Json[]).map((p) => p.name)).toContain(sm.spec.endpoints[0].port);
    expect(sm.spec.endpoints[0].path).toBe('/metrics');
    expect(sm.spec.endpoints[0].authorization.credentials).toEqual(envOf(sidecar).get('DOPPEL_ADMIN_TOKEN')!.valueFrom.secretKeyRef);
  });

  it('carries the same alert rules in the PrometheusRule as the Prometheus rules files', () => {
    const rule = byKind('PrometheusRule')[0]!;
    const groups = RULE_FILES.flatMap((f) => (parse(read(f)) as Json).groups as Json[]);
    const norm = (g: Json[]) => JSON.parse(JSON.stringify(g, (_k, v: unknown) => (typeof v === 'string' ? v.trim() : v))) as unknown;
    expect(norm(rule.spec.groups as Json[])).toEqual(norm(groups));
  });
});

describe('docs/deploy.md', () => {
  it('names only repository files that exist', () => {
    const doc = read('docs/deploy.md');
    const paths = [...doc.matchAll(/`((?:deploy|examples|config|docs)\/[^`\s]+|Dockerfile|docker-compose\.yml|\.dockerignore)`/g)].map((m) => m[1]!);
    expect(paths.length).toBeGreaterThan(5);
    for (const p of paths) expect(existsSync(resolve(ROOT, p)), p).toBe(true);
  });
});
