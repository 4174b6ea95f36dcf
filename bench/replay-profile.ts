/**
 * Where a replay worker spends its CPU per request: writes N synthetic
 * requests (one per session) to a file store, replays them with
 * `doppel replay --workers N` against the bench's fast target under
 * `node --cpu-prof`, and prints the top self-time frames of each process's
 * main thread (the one holding the run plays worker w1; with N > 1 the others
 * are worker processes) and their shares grouped by what they do (sending,
 * judging, store reads, scheduling, metrics, GC).
 *
 *   npx tsx bench/replay-profile.ts [requests=20000] [profile-dir] [workers=1]
 *   (workers 0: one process, no coordination)
 *   npx tsx bench/replay-profile.ts --read FILE.cpuprofile   (summarise an existing profile)
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from './http-bench-load.js';
import { startTarget } from './replay.bench.js';
import { writeTraffic } from './replay-workers.bench.js';
import type { CallFrame, CpuProfile, ProfileNode } from './cpuprofile-summary.js';


export interface FrameShare {
  frame: string;
  group: string;
  selfMs: number;
  share: number;
}

/** Rules from the most to the least specific: a sample counts for the first rule one of its frames matches, leaf first. */
const RULES: ReadonlyArray<readonly [string, (f: CallFrame) => boolean]> = [
  ['GC', (f) => f.functionName === '(garbage collector)'],
  ['V8 (program)', (f) => f.functionName === '(program)'],
  ['IPC with the coordinating parent', (f) => /node:internal\/child_process|ipc-coordinator/.test(f.url)],
  ['socket I/O (net, syscalls)', (f) => /^node:(internal\/)?(net|stream|internal\/streams)/.test(f.url)],
  ['undici (dispatch, HTTP parsing)', (f) => /undici/.test(f.url)],
  ['request building', (f) => /\/replay\/(request-builder|runtime-vars)\./.test(f.url)],
  ['sending (http-sender handler)', (f) => /\/replay\/http-sender\./.test(f.url)],
  ['judging (comparator)', (f) => /\/compare\//.test(f.url)],
  ['judging (judge, gates, report)', (f) => /\/(judge|gates|report)\//.test(f.url)],
  ['metrics', (f) => /\/metrics\/|prom-client/.test(f.url)],
  ['store reads, leases, JSON.parse', (f) => /\/store\/|\/replay\/coordinate\/|\/replay\/replay-source\./.test(f.url)],
  ['session scheduling, timers', (f) => /\/replay\/(session-scheduler|due-timer|lag-histogram)\.|lru-cache|node:internal\/timers/.test(f.url)],
  ['replay player', (f) => /\/replay\/replay-player\./.test(f.url)],
  ['module loading (start-up)', (f) => /node:internal\/modules|tsx|esbuild/.test(f.url)],
];

export function groupOf(stack: readonly CallFrame[]): string {
  for (const f of stack) for (const [name, test] of RULES) if (test(f)) return name;
  return 'other (node, V8 builtins)';
}

function short(f: CallFrame): string {
  const file = f.url.replace(/^.*\/node_modules\//, '').replace(/^.*\/(src|dist)\//, '$1/').replace(/^file:\/\//, '');
  return `${f.functionName || '(anonymous)'} ${file === '' ? '' : `${file}:${f.lineNumber + 1}`}`.trim();
}

/**
 * Self time per frame and per group, over the steady part of the run only: from the first to the
 * last sample under a request send, so start-up (module loading) and the report at the end are out.
 */
export function summarise(p: CpuProfile): { busyMs: number; frames: FrameShare[]; groups: Array<{ group: string; selfMs: number; share: number }> } {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const stackOf = (id: number): CallFrame[] => {
    const out: CallFrame[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) out.push((byId.get(at) as ProfileNode).callFrame);
    return out;
  };
  const stacks = new Map<number, { stack: CallFrame[]; isSend: boolean }>();
  const info = (id: number) => {
    let s = stacks.get(id);
    if (s === undefined) {
      const stack = stackOf(id);
      s = { stack, isSend: stack.some((f) => /\/replay\/(http-sender|replay-player)\./.test(f.url)) };
      stacks.set(id, s);
    }
    return s;
  };
  let first = -1;
  let last = -1;
  for (let i = 0; i < p.samples.length; i++) {
    if (info(p.samples[i] as number).isSend) {
      if (first === -1) first = i;
      last = i;
    }
  }
  const self = new Map<string, { ms: number; group: string }>();
  const g = new Map<string, number>();
  let busyMs = 0;
  // A process that sends nothing (the parent of --workers) is summarised whole.
  if (first === -1) last = p.samples.length - 1;
  for (let i = Math.max(0, first); i <= last; i++) {
    const id = p.samples[i] as number;
    const node = byId.get(id) as ProfileNode;
    if (node.callFrame.functionName === '(idle)') continue;
    const ms = (p.timeDeltas[i] ?? 0) / 1000;
    const { stack } = info(id);
    const group = groupOf(stack);
    const key = short(node.callFrame);
    const e = self.get(key) ?? { ms: 0, group };
    e.ms += ms;
    self.set(key, e);
    g.set(group, (g.get(group) ?? 0) + ms);
    busyMs += ms;
  }
  const frames: FrameShare[] = [...self.entries()].map(([frame, e]) => ({ frame, group: e.group, selfMs: e.ms, share: e.ms / busyMs })).sort((a, b) => b.selfMs - a.selfMs);
  const groups = [...g.entries()].map(([group, selfMs]) => ({ group, selfMs, share: selfMs / busyMs })).sort((a, b) => b.selfMs - a.selfMs);
  return { busyMs, frames, groups };
}

function render(s: ReturnType<typeof summarise>, requests: number, top: number): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const lines = [
    `busy CPU while sending ${s.busyMs.toFixed(0)} ms over ${requests} requests = ${((s.busyMs * 1000) / requests).toFixed(1)} µs per request (profiled, so slower than unprofiled)`,
    '',
    '| group | self ms | share | µs/request |',
    '|---|---|---|---|',
    ...s.groups.map((g) => `| ${g.group} | ${g.selfMs.toFixed(0)} | ${pct(g.share)} | ${((g.selfMs * 1000) / requests).toFixed(1)} |`),
    '',
    '| frame (self time) | counted in | self ms | share |',
    '|---|---|---|---|',
    ...s.frames.slice(0, top).map((f) => `| \`${f.frame}\` | ${f.group} | ${f.selfMs.toFixed(0)} | ${pct(f.share)} |`),
  ];
  return lines.join('\n');
}

function run(cmd: string[], env: NodeJS.ProcessEnv): Promise<number | null> {
  const child = spawn(cmd[0] as string, cmd.slice(1), { cwd: repoRoot, env, stdio: ['ignore', 'ignore', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === '--read') {
    const p = JSON.parse(await readFile(argv[1] as string, 'utf8')) as CpuProfile;
    process.stdout.write(`${render(summarise(p), Number(argv[2] ?? 1), 30)}\n`);
    return;
  }
  const requests = Number(argv[0] ?? 20_000);
  const dir = await mkdtemp(join(tmpdir(), 'doppel-profile-'));
  const profDir = argv[1] ?? join(dir, 'prof');
  const workers = Number(argv[2] ?? 1);
  const target = await startTarget();
  try {
    const traffic = join(dir, 'traffic');
    await writeTraffic(traffic, requests);
    const code = await run(
      // the worker processes are started with the parent's execArgv, so they are profiled too
      [process.execPath, '--cpu-prof', `--cpu-prof-dir=${profDir}`, join(repoRoot, 'bin/doppel.js'), 'replay', '--traffic', traffic, '--target', target.url, ...(workers > 0 ? ['--workers', String(workers)] : []), '--concurrency', '16', '--time-scale', '1000000000', '--log-level', 'warn'],
      { ...process.env, DOPPEL_ENTRY: process.env.DOPPEL_ENTRY ?? 'src' },
    );
    if (code !== 0) throw new Error(`doppel replay exited ${code}`);
    // One profile per thread: CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile. Thread 0 is a
    // process's main thread (others are the TypeScript loader's); the first process holds the run
    // and plays worker w1 itself, any later one is a worker process it started.
    const files = (await readdir(profDir)).filter((f) => f.endsWith('.cpuprofile'));
    const mains = files
      .map((f) => ({ f, at: /\.(\d+)\.(\d+)\.\d+\.cpuprofile$/.exec(f) }))
      .filter((x) => x.at !== null && x.at[2] === '0')
      .map((x) => ({ f: x.f, pid: Number((x.at as RegExpExecArray)[1]) }))
      .sort((a, b) => a.pid - b.pid);
    for (const [i, { f }] of mains.entries()) {
      const p = JSON.parse(await readFile(join(profDir, f), 'utf8')) as CpuProfile;
      const what = i > 0 ? 'worker process' : workers > 0 ? 'process holding the run (worker w1)' : 'replay process';
      process.stdout.write(`## ${what} (${f})\n\n${render(summarise(p), requests, i === 0 ? 40 : 20)}\n\n`);
    }
    process.stdout.write(`profiles in ${profDir}\n`);
  } finally {
    target.child.kill('SIGKILL');
    if (argv[1] === undefined) await rm(join(dir, 'traffic'), { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exitCode = 1;
  });
}
