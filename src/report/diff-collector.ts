/**
 * Keeps what a report shows about diffs within fixed bounds: counts of the
 * differing paths per endpoint (top diffs) and a few whole exchanges per
 * endpoint for the side-by-side view. diffs.ndjson holds everything else.
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
  /** true when a sample of this endpoint would still be kept (so callers only render bodies then) */
  wantsSample(endpoint: string): boolean;
  add(subject: DiffSubject, bodies?: { baseline?: Buffer | string; candidate?: Buffer | string }): void;
  topDiffs(limit?: number): TopDiff[];
  samples(): SideBySideSample[];
}

export function createDiffCollector(opts: DiffCollectorOptions = {}): DiffCollector {
  const maxPaths = opts.maxPaths ?? 1000;
  const maxSamples = opts.maxSamples ?? 25;
  const maxPerEndpoint = opts.maxSamplesPerEndpoint ?? 3;
  const maxBodyChars = opts.maxBodyChars ?? 16 * 1024;
  const paths = new Map<string, TopDiff>();
  const samples: SideBySideSample[] = [];
  const perEndpoint = new Map<string, number>();

  const wantsSample = (endpoint: string) => samples.length < maxSamples && (perEndpoint.get(endpoint) ?? 0) < maxPerEndpoint;
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
        const key = `${subject.endpoint}\u0000${path}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const top = paths.get(key);
        if (top !== undefined) top.count++;
        else if (paths.size < maxPaths) {
          const example: TopDiff['example'] = { exchangeId: subject.exchangeId };
          if (d.expected !== undefined) example.expected = d.expected;
          if (d.actual !== undefined) example.actual = d.actual;
          paths.set(key, { endpoint: subject.endpoint, path, kind: d.kind, count: 1, example });
        }
      }
      if (!wantsSample(subject.endpoint)) return;
      perEndpoint.set(subject.endpoint, (perEndpoint.get(subject.endpoint) ?? 0) + 1);
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
      samples.push(sample);
    },
    topDiffs(limit = 50) {
      return [...paths.values()].sort((a, b) => b.count - a.count || a.endpoint.localeCompare(b.endpoint) || a.path.localeCompare(b.path)).slice(0, limit);
    },
    samples: () => samples,
  };
}
