/**
 * Self time by function from a V8 `.cpuprofile` (`node --cpu-prof`): the
 * functions where the samples landed, with their share of the busy
 * (non-idle) time, and the same grouped by source file. Usage:
 *
 *   npx tsx bench/cpuprofile-summary.ts FILE.cpuprofile [TOP]
 */
import { readFile } from 'node:fs/promises';
import { fmt, table } from './stats.js';

export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
export interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  file: string;
  us: number;
}

/** Where a file sits, without the checkout's own path (src/..., node:..., a package name). */
function shortFile(url: string): string {
  if (url === '') return '';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm !== -1) return url.slice(nm + '/node_modules/'.length);
  for (const root of ['/src/', '/bench/']) {
    const i = url.lastIndexOf(root);
    if (i !== -1) return url.slice(i + 1);
  }
  return url;
}

/** Self time per function (name + file + line), largest first; `(idle)` is kept so callers can leave it out. */
export function selfTimes(p: CpuProfile): SelfTime[] {
  const byNode = new Map<number, ProfileNode>();
  for (const n of p.nodes) byNode.set(n.id, n);
  const us = new Map<string, SelfTime>();
  for (let i = 0; i < p.samples.length; i++) {
    const node = byNode.get(p.samples[i] as number);
    if (node === undefined) continue;
    const f = node.callFrame;
    const file = shortFile(f.url);
    const name = `${f.functionName === '' ? '(anonymous)' : f.functionName}${file === '' ? '' : ` ${file}:${f.lineNumber + 1}`}`;
    const t = us.get(name) ?? { name, file, us: 0 };
    // A sample's time is the gap to the next one (timeDeltas[i + 1]).
    t.us += p.timeDeltas[i + 1] ?? 0;
    us.set(name, t);
  }
  return [...us.values()].sort((a, b) => b.us - a.us);
}

export function summarise(p: CpuProfile, top = 30): string {
  const all = selfTimes(p);
  const idle = all.filter((t) => t.name === '(idle)').reduce((a, t) => a + t.us, 0);
  const busy = all.filter((t) => t.name !== '(idle)');
  const busyUs = busy.reduce((a, t) => a + t.us, 0);
  const share = (us: number) => `${fmt((100 * us) / busyUs, 1)}%`;
  const files = new Map<string, number>();
  for (const t of busy) {
    const key = t.file === '' ? t.name : t.file;
    files.set(key, (files.get(key) ?? 0) + t.us);
  }
  const fileRows = [...files.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15);
  return [
    `profile: ${fmt((p.endTime - p.startTime) / 1e6, 1)} s, busy ${fmt(busyUs / 1e6, 2)} s, idle ${fmt(idle / 1e6, 2)} s`,
    '',
    table(
      ['self time (function)', 'ms', 'share of busy'],
      busy.slice(0, top).map((t) => [t.name, fmt(t.us / 1000, 0), share(t.us)]),
    ),
    '',
    table(
      ['self time (file)', 'ms', 'share of busy'],
      fileRows.map(([f, us]) => [f, fmt(us / 1000, 0), share(us)]),
    ),
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  if (file === undefined) {
    process.stderr.write('usage: cpuprofile-summary.ts FILE.cpuprofile [TOP]\n');
    process.exit(2);
  }
  const top = Number(process.argv[3] ?? 30);
  process.stdout.write(`${summarise(JSON.parse(await readFile(file, 'utf8')) as CpuProfile, top)}\n`);
}
