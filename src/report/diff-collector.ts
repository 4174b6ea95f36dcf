/**
 * Keeps what a report shows about diffs within fixed bounds: counts of the
 * differing paths per endpoint (top diffs) and a few whole exchanges per
 * endpoint for the side-by-side view. diffs.ndjson holds everything else.
 *
 * What is kept depends on the set of mismatches, never on their order: a top
 * diff's example and the side-by-side samples are those of the smallest
 * exchange ids (ULIDs: the earliest recorded). So collectors of N workers
 * that each saw part of a run merge into exactly the collector of one process
 * that saw all of it. The samples are the greedy pick over ids in order (at
 * most maxSamplesPerEndpoint per endpoint, maxSamples in all), kept
 * incrementally: a sample pushed out by a smaller id can never come back.
 */
import { generalizePath } from '../core/json-path.js';
import type { CompareOutcome } from '../compare/types.js';
import type { SideBySideSample, TopDiff } from './types.js';

export interface DiffCollectorOptions {
  /** distinct (endpoint, path) pairs counted; later new pairs are not tracked */
  maxPaths?: number;
  maxSamples?: number;
  maxSamplesPerEndpoint?: number;
  /** longest body text kept in a sample */
  maxBodyChars?: number;
}

export interface DiffSubject {
  exchangeId: string;
  endpoint: string;
  baselineStatus: number;
  candidateStatus: number | undefined;
  outcome: CompareOutcome;
}

export interface DiffCollector {
  /** true when a sample of this exchange would be kept (so callers only render bodies then) */
  wantsSample(endpoint: string, exchangeId: string): boolean;
  add(subject: DiffSubject, bodies?: { baseline?: Buffer | string; candidate?: Buffer | string }): void;
  topDiffs(limit?: number): TopDiff[];
  samples(): SideBySideSample[];
  /** everything kept, as plain JSON for another process to absorb */
  state(): DiffCollectorState;
  absorb(state: DiffCollectorState): void;
}

export interface DiffCollectorState {
  paths: TopDiff[];
  samples: SideBySideSample[];
}

export function createDiffCollector(opts: DiffCollectorOptions = {}): DiffCollector {
  const maxPaths = opts.maxPaths ?? 1000;
  const maxSamples = opts.maxSamples ?? 25;
  const maxPerEndpoint = opts.maxSamplesPerEndpoint ?? 3;
  const maxBodyChars = opts.maxBodyChars ?? 16 * 1024;
  const paths = new Map<string, TopDiff>();
  /** ascending exchange id */
  let samples: SideBySideSample[] = [];

  const perEndpoint = (endpoint: string) => samples.filter((s) => s.endpoint === endpoint);
  const wantsSample = (endpoint: string, exchangeId: string): boolean => {
    if (samples.length >= maxSamples && exchangeId >= (samples[samples.length - 1] as SideBySideSample).exchangeId) return false;
    const mine = perEndpoint(endpoint);
    return mine.length < maxPerEndpoint || exchangeId < (mine[mine.length - 1] as SideBySideSample).exchangeId;
  };
  const keepSample = (sample: SideBySideSample) => {
    if (!wantsSample(sample.endpoint, sample.exchangeId) || samples.some((s) => s.exchangeId === sample.exchangeId)) return;
    samples.push(sample);
    samples.sort((a, b) => (a.exchangeId < b.exchangeId ? -1 : a.exchangeId > b.exchangeId ? 1 : 0));
    const mine = perEndpoint(sample.endpoint);
    if (mine.length > maxPerEndpoint) {
      const out = mine[mine.length - 1] as SideBySideSample;
      samples = samples.filter((s) => s !== out);
    }
    if (samples.length > maxSamples) samples.pop();
  };
  const addPath = (top: TopDiff) => {
    const key = `${top.endpoint}\u0000${top.path}`;
    const have = paths.get(key);
    if (have !== undefined) {
      have.count += top.count;
      if (top.example.exchangeId < have.example.exchangeId) have.example = top.example;
    } else if (paths.size < maxPaths) paths.set(key, { ...top });
  };
  const text = (b: Buffer | string | undefined) => {
    if (b === undefined) return undefined;
    const s = typeof b === 'string' ? b : b.toString('utf8', 0, Math.min(b.length, maxBodyChars * 4));
    return s.length > maxBodyChars ? `${s.slice(0, maxBodyChars)}… (cut)` : s;
  };

  return {
    wantsSample,
    add(subject, bodies) {
      const seen = new Set<string>();
      for (const d of subject.outcome.diffs) {
        const path = generalizePath(d.path);
        if (seen.has(path)) continue;
        seen.add(path);
        const example: TopDiff['example'] = { exchangeId: subject.exchangeId };
        if (d.expected !== undefined) example.expected = d.expected;
        if (d.actual !== undefined) example.actual = d.actual;
        addPath({ endpoint: subject.endpoint, path, kind: d.kind, count: 1, example });
      }
      if (!wantsSample(subject.endpoint, subject.exchangeId)) return;
      const sample: SideBySideSample = {
        exchangeId: subject.exchangeId,
        endpoint: subject.endpoint,
        baselineStatus: subject.baselineStatus,
        candidateStatus: subject.candidateStatus,
        diffs: subject.outcome.diffs,
      };
      const b = text(bodies?.baseline);
      const c = text(bodies?.candidate);
      if (b !== undefined) sample.baselineBody = b;
      if (c !== undefined) sample.candidateBody = c;
      keepSample(sample);
    },
    topDiffs(limit = 50) {
      return [...paths.values()].sort((a, b) => b.count - a.count || a.endpoint.localeCompare(b.endpoint) || a.path.localeCompare(b.path)).slice(0, limit);
    },
    samples: () => samples,
    state: () => ({ paths: [...paths.values()], samples }),
    absorb(state) {
      for (const top of state.paths) addPath(top);
      for (const sample of state.samples) keepSample(sample);
    },
  };
}
