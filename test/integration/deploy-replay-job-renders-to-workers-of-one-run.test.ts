/**
 * deploy/kubernetes/replay-job.yaml cannot be applied here (no cluster), so it
 * is rendered the way Kubernetes would start each pod: the Indexed Job's
 * completion index and the ConfigMap's values expanded into the args. Each
 * pod's command line is then parsed by doppel's own program.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import type { Command } from 'commander';
import { parseAllDocuments, parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { parseRedisStoreUrl } from '../../src/store/redis-connection.js';
import { checkRunId } from '../../src/replay/coordinate/types.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
type Json = Record<string, any>;

const docs = parseAllDocuments(readFileSync(join(ROOT, 'deploy/kubernetes/replay-job.yaml'), 'utf8')).map((d) => {
  expect(d.errors).toEqual([]);
  return d.toJS() as Json;
});
const job = docs.find((d) => d.kind === 'Job')!;
const configMap = docs.find((d) => d.kind === 'ConfigMap')!;
const pod = job.spec.template.spec as Json;
const container = (pod.containers as Json[])[0]!;

/** The pod of one completion index: env resolved from the ConfigMap and the Job controller, $(NAME) expanded in args. */
function render(index: number): string[] {
  const env = new Map<string, string>([['JOB_COMPLETION_INDEX', String(index)]]);
  for (const e of container.env as Json[]) {
    const ref = e.valueFrom?.configMapKeyRef as Json | undefined;
    expect(ref?.name, e.name).toBe(configMap.metadata.name);
    const value = configMap.data[ref!.key as string] as string | undefined;
    expect(value, e.name).toBeDefined();
    env.set(e.name as string, value!);
  }
  return (container.args as string[]).map((a) =>
    a.replace(/\$\(([A-Z_][A-Z0-9_]*)\)/g, (_m, name: string) => {
      expect(env.has(name), name).toBe(true);
      return env.get(name)!;
    }),
  );
}

function replayFlags(): Set<string> {
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  const program = buildProgram({ stdout: sink, stderr: sink, env: {}, signal: new AbortController().signal, cwd: ROOT }, () => undefined);
  const replay = program.commands.find((c: Command) => c.name() === 'replay')!;
  return new Set(replay.options.map((o) => o.long!));
}

describe('deploy/kubernetes/replay-job.yaml', () => {
  it('is an Indexed Job of N workers started together, retried per index, failing the Job on a failed gate', () => {
    expect(job.spec.completionMode).toBe('Indexed');
    expect(job.spec.parallelism).toBe(job.spec.completions);
    expect(job.spec.completions).toBeGreaterThan(1);
    expect(pod.restartPolicy).toBe('Never');
    const fail = (job.spec.podFailurePolicy.rules as Json[]).find((r) => r.action === 'FailJob')!;
    expect(fail.onExitCodes.values).toEqual([1, 2]);
  });

  it('renders one replay command line per pod: the same run id and coordinator from the ConfigMap, a worker id of its own, only real flags', () => {
    const flags = replayFlags();
    const lines = Array.from({ length: job.spec.completions as number }, (_, i) => render(i));
    const valueOf = (args: string[], flag: string) => args[args.indexOf(flag) + 1]!;
    for (const args of lines) {
      expect(args[0]).toBe('replay');
      for (const a of args.slice(1).filter((x) => x.startsWith('--'))) expect(flags.has(a), a).toBe(true);
      expect(valueOf(args, '--coordinator')).toBe(configMap.data.coordinator);
      expect(() => parseRedisStoreUrl(valueOf(args, '--coordinator'))).not.toThrow();
      expect(checkRunId(valueOf(args, '--run-id'))).toBeUndefined();
      expect(valueOf(args, '--traffic')).toMatch(/^redis:\/\//);
    }
    expect(new Set(lines.map((a) => valueOf(a, '--run-id'))).size).toBe(1);
    expect(new Set(lines.map((a) => valueOf(a, '--worker-id'))).size).toBe(lines.length);
    // the report lands on the volume every pod shares, under the run id
    const report = valueOf(lines[0]!, '--report');
    const mount = (container.volumeMounts as Json[]).find((m) => report.startsWith(`${m.mountPath}/`))!;
    const volume = (pod.volumes as Json[]).find((v) => v.name === mount.name)!;
    const claim = docs.find((d) => d.kind === 'PersistentVolumeClaim' && d.metadata.name === volume.persistentVolumeClaim.claimName)!;
    expect(claim.spec.accessModes).toContain('ReadWriteMany');
  });

  it('mounts a gates file doppel accepts, and runs without privilege', () => {
    const gates = parse(configMap.data['gates.yaml'] as string) as Json;
    expect(Object.keys(gates.quality_gates as Json).length).toBeGreaterThan(0);
    const args = render(0);
    const file = args[args.indexOf('--gates') + 1]!;
    const mount = (container.volumeMounts as Json[]).find((m) => file.startsWith(`${m.mountPath}/`))!;
    const volume = (pod.volumes as Json[]).find((v) => v.name === mount.name)!;
    expect(volume.configMap.items[0].path).toBe(file.slice(mount.mountPath.length + 1));
    const sc = container.securityContext as Json;
    expect(sc.allowPrivilegeEscalation).toBe(false);
    expect(sc.readOnlyRootFilesystem).toBe(true);
    expect(sc.capabilities.drop).toEqual(['ALL']);
    expect(pod.securityContext.runAsNonRoot).toBe(true);
  });
});
