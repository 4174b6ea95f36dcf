/**
 * Bench results as data: each bench sets named figures (ratios against its
 * baseline in the same run, and the raw numbers behind them) and flags what
 * makes a run untrustworthy (drops, errors). `bench/run.ts` writes them to
 * bench/results/<bench>.json with the machine's facts, and `--check` holds
 * the figures against the floors in bench/floors.json.
 */
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface BenchFigures {
  /** a measured figure; names are stable, floors refer to them */
  set(name: string, value: number): void;
  /** something that makes this run's figures untrustworthy; --check fails on it */
  flag(problem: string): void;
}

export interface CollectedFigures extends BenchFigures {
  readonly figures: Record<string, number>;
  readonly problems: string[];
}

/** For a bench run on its own (`tsx bench/x.bench.ts`): figures go nowhere. */
export const noFigures: BenchFigures = { set: () => undefined, flag: () => undefined };

export function collectFigures(): CollectedFigures {
  const figures: Record<string, number> = {};
  const problems: string[] = [];
  return {
    figures,
    problems,
    set(name, value) {
      figures[name] = value;
    },
    flag(problem) {
      problems.push(problem);
    },
  };
}

export interface MachineFacts {
  node: string;
  platform: string;
  cpuModel: string;
  cpus: number;
  totalMemMb: number;
  freeMemMb: number;
  /** 1, 5 and 15 minute load averages when the bench started: a loaded machine explains weak figures */
  loadAverage: number[];
}

export function machineFacts(): MachineFacts {
  const c = cpus();
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpuModel: c[0]?.model ?? 'unknown',
    cpus: c.length,
    totalMemMb: Math.round(totalmem() / 1048576),
    freeMemMb: Math.round(freemem() / 1048576),
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

export interface BenchResult {
  bench: string;
  quick: boolean;
  startedAt: string;
  finishedAt: string;
  machine: MachineFacts;
  figures: Record<string, number>;
  problems: string[];
}

export async function writeBenchResult(dir: string, result: BenchResult): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${result.bench}.json`);
  await writeFile(file, JSON.stringify(result, null, 2) + '\n');
  return file;
}

/** bench name -> figure name -> bound; a figure under `min` or over `max` misses its floor. */
export type Floors = Record<string, Record<string, { min?: number; max?: number }>>;

/** Reads bench/floors.json, naming the key of each problem. */
export function parseFloors(text: string, file: string): Floors {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: not JSON: ${(err as Error).message}`, { cause: err });
  }
  const problems: string[] = [];
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(raw)) throw new Error(`${file}: expected an object of benches`);
  const floors: Floors = {};
  for (const [bench, figures] of Object.entries(raw)) {
    if (bench === '$comment') continue;
    if (!isObject(figures)) {
      problems.push(`${bench}: expected an object of figures`);
      continue;
    }
    const out: Floors[string] = {};
    for (const [name, bound] of Object.entries(figures)) {
      if (!isObject(bound)) {
        problems.push(`${bench}.${name}: expected { "min": n } or { "max": n }`);
        continue;
      }
      const b: { min?: number; max?: number } = {};
      for (const [k, v] of Object.entries(bound)) {
        if (k !== 'min' && k !== 'max') problems.push(`${bench}.${name}.${k}: unknown key (min or max)`);
        else if (typeof v !== 'number' || !Number.isFinite(v)) problems.push(`${bench}.${name}.${k}: expected a number`);
        else b[k] = v;
      }
      if (bound.min === undefined && bound.max === undefined) problems.push(`${bench}.${name}: needs min or max`);
      out[name] = b;
    }
    floors[bench] = out;
  }
  if (problems.length > 0) throw new Error(`${file}:\n  ${problems.join('\n  ')}`);
  return floors;
}

/**
 * Every way the results miss their floors: a figure out of bounds, a figure
 * a floor names that the bench did not produce, and every flagged problem.
 * Benches with no result (not run this time) are not checked.
 */
export function checkFloors(results: readonly BenchResult[], floors: Floors): string[] {
  const missed: string[] = [];
  for (const r of results) {
    for (const p of r.problems) missed.push(`${r.bench}: ${p}`);
    for (const [name, bound] of Object.entries(floors[r.bench] ?? {})) {
      const v = r.figures[name];
      if (v === undefined || !Number.isFinite(v)) missed.push(`${r.bench}.${name}: not measured`);
      else if (bound.min !== undefined && v < bound.min) missed.push(`${r.bench}.${name}: ${round(v)} is under its floor ${bound.min}`);
      else if (bound.max !== undefined && v > bound.max) missed.push(`${r.bench}.${name}: ${round(v)} is over its ceiling ${bound.max}`);
    }
  }
  return missed;
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}
