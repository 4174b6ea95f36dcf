/**
 * Turns a validated config into the plan `doppel run` follows: every path
 * resolved against the config file, every requirement of the phases checked
 * before anything starts (exit 2 naming the key).
 */
import { stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { SUT_DEFAULT_TIMEOUT_MS, type ResolvedConfig, type ResolvedMock } from '../config/resolve.js';
import { DoppelError } from '../core/errors.js';
import { LATENCY_GATES } from '../config/gate-expression.js';
import { listStoreSegments, readStoreManifest } from '../store/file-store.js';

export interface ProcessPlan {
  name: 'sut' | 'baseline';
  command: string;
  cwd: string;
  env: Record<string, string>;
  health: string;
  readySeconds: number;
  timeoutMs: number;
  /** where replay sends requests while this process runs */
  target: string;
}

export interface MockPlan {
  config: Readonly<ResolvedMock>;
  traffic: string[];
  stubs: string[];
}

export interface RunPlan {
  configFile: string;
  configDir: string;
  mocks: MockPlan[];
  replayTraffic: string[];
  target: string;
  sut: ProcessPlan | undefined;
  baseline: ProcessPlan | undefined;
  /** an earlier baseline run's report, when given instead of a baseline command */
  baselineReport: string | undefined;
  reportDir: string;
}

function asList(v: string | readonly string[] | undefined): string[] {
  if (v === undefined) return [];
  return typeof v === 'string' ? [v] : [...v];
}

export function planRun(cfg: Readonly<ResolvedConfig>, configFile: string, cwd: string, env: Readonly<Record<string, string | undefined>>): RunPlan {
  const configDir = dirname(resolve(cwd, configFile));
  const at = (p: string) => (isAbsolute(p) ? p : resolve(configDir, p));
  const problems: string[] = [];
  const need = (ok: boolean, key: string, message: string) => {
    if (!ok) problems.push(`${configFile} ${key}: ${message}`);
  };

  need(cfg.replay.target !== undefined || cfg.sut !== undefined, 'replay.target', 'required: the URL the service under test answers on');
  need(asList(cfg.replay.traffic).length > 0, 'replay.traffic', 'required: the recorded inbound traffic to replay');
  const baseline = cfg.baseline;
  if (baseline !== undefined) {
    need(baseline.command !== undefined || baseline.report !== undefined, 'baseline.command', 'required (or baseline.report, an earlier baseline run)');
    if (baseline.command !== undefined) need(baseline.health !== undefined, 'baseline.health', 'required when baseline.command is set: the URL that answers 2xx when the baseline build is ready');
  }
  const hasBaseline = baseline?.command !== undefined || baseline?.report !== undefined || cfg.replay.baseline !== undefined;
  for (const g of LATENCY_GATES) {
    need(cfg.quality_gates[g] === undefined || hasBaseline, `quality_gates.${g}`, 'a latency gate needs a baseline run: add a baseline: section (command + health, or report)');
  }
  cfg.mocks.forEach((m, i) => need(asList(m.traffic).length > 0, `mocks[${i}].traffic`, 'required'));
  if (problems.length > 0) {
    throw new DoppelError('DOPPEL_CONFIG_INVALID', `${configFile}: ${problems.length} problem${problems.length === 1 ? '' : 's'} for doppel run`, { details: problems });
  }

  const processEnv = (extra: Readonly<Record<string, string>> | undefined): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
    return { ...out, ...extra };
  };
  const target = cfg.replay.target ?? new URL(cfg.sut?.health ?? 'http://127.0.0.1').origin;
  const sut: ProcessPlan | undefined =
    cfg.sut === undefined
      ? undefined
      : {
          name: 'sut',
          command: cfg.sut.command,
          cwd: cfg.sut.cwd === undefined ? cwd : at(cfg.sut.cwd),
          env: processEnv(cfg.sut.env),
          health: cfg.sut.health,
          readySeconds: cfg.sut.ready_seconds,
          timeoutMs: cfg.sut.timeout_ms,
          target,
        };
  const baselinePlan: ProcessPlan | undefined =
    baseline?.command === undefined
      ? undefined
      : {
          name: 'baseline',
          command: baseline.command,
          cwd: baseline.cwd === undefined ? cwd : at(baseline.cwd),
          env: processEnv(baseline.env ?? cfg.sut?.env),
          health: baseline.health as string,
          readySeconds: baseline.ready_seconds ?? cfg.sut?.ready_seconds ?? 1,
          timeoutMs: cfg.sut?.timeout_ms ?? SUT_DEFAULT_TIMEOUT_MS,
          target: baseline.target ?? target,
        };
  return {
    configFile,
    configDir,
    mocks: cfg.mocks.map((m) => ({ config: m, traffic: asList(m.traffic).map(at), stubs: asList(m.stubs).map(at) })),
    replayTraffic: asList(cfg.replay.traffic).map(at),
    target,
    sut,
    baseline: baselinePlan,
    baselineReport: baseline?.report !== undefined ? at(baseline.report) : cfg.replay.baseline !== undefined ? at(cfg.replay.baseline) : undefined,
    reportDir: at(cfg.replay.report ?? 'doppel-report'),
  };
}

export interface TrafficSummary {
  dir: string;
  segments: number;
  exchanges: number | undefined;
  services: string[];
}

/** Checks a traffic directory exists and holds segments; names the path when not. */
export async function inspectTraffic(dir: string, owner: string): Promise<TrafficSummary> {
  const isDir = await stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDir) throw new DoppelError('DOPPEL_STORE_NOT_FOUND', `${owner}: traffic directory ${dir} does not exist`);
  const segments = (await listStoreSegments(dir)).length;
  if (segments === 0) throw new DoppelError('DOPPEL_INPUT_INVALID', `${owner}: traffic directory ${dir} holds no exchanges`);
  const manifest = await readStoreManifest(dir);
  return { dir, segments, exchanges: manifest?.counts.exchanges, services: manifest?.services ?? [] };
}

/** Human-readable plan for --dry-run and the start of a run. */
export function describePlan(plan: RunPlan, traffic: Map<string, TrafficSummary>): string[] {
  const lines: string[] = [];
  const count = (d: string) => {
    const t = traffic.get(d);
    return t?.exchanges === undefined ? 'unknown count' : `${t.exchanges} exchanges`;
  };
  lines.push(`plan for ${plan.configFile}`);
  lines.push(`  1. backends: ${plan.mocks.length === 0 ? 'none' : ''}`);
  for (const m of plan.mocks) lines.push(`     - ${m.config.service} (${m.config.protocol}) on ${m.config.listen} from ${m.traffic.map((d) => `${d} (${count(d)})`).join(', ')}`);
  if (plan.baseline) lines.push(`  2. baseline: \`${plan.baseline.command}\`, ready when ${plan.baseline.health} answers 2xx for ${plan.baseline.readySeconds}s; replay to ${plan.baseline.target}`);
  else if (plan.baselineReport) lines.push(`  2. baseline: earlier run report ${plan.baselineReport}`);
  else lines.push('  2. baseline: recorded responses');
  if (plan.sut) lines.push(`  3. sut: \`${plan.sut.command}\`, ready when ${plan.sut.health} answers 2xx for ${plan.sut.readySeconds}s`);
  else lines.push(`  3. sut: not started by doppel (expected at ${plan.target})`);
  lines.push(`  4. replay: ${plan.replayTraffic.map((d) => `${d} (${count(d)})`).join(', ')} -> ${plan.target}`);
  lines.push(`  5. gates and report: ${plan.reportDir}`);
  return lines;
}
