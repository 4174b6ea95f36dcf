/**
 * Reads the report of an earlier run of the baseline build (`--baseline DIR`)
 * so replay can pair requests by exchange id: baseline durations for latency
 * deltas, and which exchanges already mismatched for new_mismatch.
 *
 * Per exchange only an index, a status, a duration and a flag are kept, in
 * typed arrays, so a baseline of a million requests costs tens of megabytes.
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DoppelError } from '../core/errors.js';
import { DIFFS_FILE, RESULTS_FILE } from './ndjson-writer.js';
import { REPORT_FORMAT_VERSION, type RunReport } from './types.js';
import { SUMMARY_FILE } from './write-report.js';

export interface BaselineResult {
  status: number | undefined;
  durationMs: number | undefined;
  isMatch: boolean;
  /** the baseline run wrote a diff record for this exchange */
  hasMismatch: boolean;
}

export interface BaselineReport {
  dir: string;
  summary: RunReport;
  /** exchanges with a result line */
  readonly size: number;
  get(exchangeId: string): BaselineResult | undefined;
  /** true when the baseline run mismatched on this exchange (from results or diffs) */
  hasMismatch(exchangeId: string): boolean;
  /** lines that could not be read, with file:line */
  problems: string[];
}

function inputError(message: string, cause?: unknown): DoppelError {
  return new DoppelError('DOPPEL_INPUT_INVALID', message, cause === undefined ? {} : { cause });
}

async function readSummary(dir: string): Promise<RunReport> {
  const file = join(dir, SUMMARY_FILE);
  let text: string;
  try {
    const s = await stat(dir);
    if (!s.isDirectory()) throw inputError(`${dir}: not a report directory (not a directory)`);
    text = await readFile(file, 'utf8');
  } catch (cause) {
    if (cause instanceof DoppelError) throw cause;
    const code = (cause as NodeJS.ErrnoException).code ?? 'error';
    throw inputError(code === 'ENOENT' ? `${file}: baseline report not found (expected a report directory of an earlier run)` : `${file}: cannot read baseline report (${code})`, cause);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw inputError(`${file}: not valid JSON (${(cause as Error).message})`, cause);
  }
  const v = (parsed as { v?: unknown } | null)?.v;
  if (parsed === null || typeof parsed !== 'object' || typeof v !== 'number') throw inputError(`${file}: not a doppel run summary (no format version "v")`);
  if (Math.floor(v) !== REPORT_FORMAT_VERSION) throw inputError(`${file}: report format version ${v} is not supported (this doppel reads version ${REPORT_FORMAT_VERSION})`);
  if (typeof (parsed as { runId?: unknown }).runId !== 'string') throw inputError(`${file}: not a doppel run summary (no runId)`);
  return parsed as RunReport;
}

async function* readLines(file: string): AsyncGenerator<{ line: string; n: number }> {
  const stream = createReadStream(file, { encoding: 'utf8' });
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const line of rl) {
      n++;
      if (line.trim() !== '') yield { line, n };
    }
  } finally {
    rl.close();
    stream.destroy();
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

export async function readBaselineReport(dir: string): Promise<BaselineReport> {
  const summary = await readSummary(dir);
  const problems: string[] = [];
  const index = new Map<string, number>();
  let capacity = 1024;
  let status = new Uint16Array(capacity);
  let duration = new Float64Array(capacity).fill(NaN);
  let flags = new Uint8Array(capacity);
  const MATCH = 1;
  const MISMATCH = 2;
  const slotOf = (id: string): number => {
    let i = index.get(id);
    if (i !== undefined) return i;
    i = index.size;
    if (i >= capacity) {
      capacity *= 2;
      const s = new Uint16Array(capacity);
      s.set(status);
      const d = new Float64Array(capacity).fill(NaN);
      d.set(duration);
      const f = new Uint8Array(capacity);
      f.set(flags);
      status = s;
      duration = d;
      flags = f;
    }
    index.set(id, i);
    return i;
  };
  let results = 0;
  const resultsFile = join(dir, RESULTS_FILE);
  if (await exists(resultsFile)) {
    for await (const { line, n } of readLines(resultsFile)) {
      try {
        const r = JSON.parse(line) as { exchangeId?: unknown; status?: unknown; durationMs?: unknown; isMatch?: unknown };
        if (typeof r.exchangeId !== 'string') throw new Error('no exchangeId');
        const i = slotOf(r.exchangeId);
        results++;
        if (typeof r.status === 'number') status[i] = r.status;
        if (typeof r.durationMs === 'number') duration[i] = r.durationMs;
        flags[i] = ((flags[i] as number) & MISMATCH) | (r.isMatch === true ? MATCH : 0);
        if (r.isMatch === false) flags[i] |= MISMATCH;
      } catch (err) {
        problems.push(`${resultsFile}:${n}: ${(err as Error).message}`);
      }
    }
  }
  const diffsFile = join(dir, DIFFS_FILE);
  if (await exists(diffsFile)) {
    for await (const { line, n } of readLines(diffsFile)) {
      try {
        const r = JSON.parse(line) as { exchangeId?: unknown };
        if (typeof r.exchangeId !== 'string') throw new Error('no exchangeId');
        const i = slotOf(r.exchangeId);
        flags[i] = (flags[i] as number) | MISMATCH;
      } catch (err) {
        problems.push(`${diffsFile}:${n}: ${(err as Error).message}`);
      }
    }
  }
  return {
    dir,
    summary,
    size: results,
    problems,
    get(id) {
      const i = index.get(id);
      if (i === undefined) return undefined;
      const s = status[i] as number;
      const d = duration[i] as number;
      const f = flags[i] as number;
      return { status: s === 0 ? undefined : s, durationMs: Number.isNaN(d) ? undefined : d, isMatch: (f & MATCH) !== 0 && (f & MISMATCH) === 0, hasMismatch: (f & MISMATCH) !== 0 };
    },
    hasMismatch(id) {
      const i = index.get(id);
      return i !== undefined && ((flags[i] as number) & MISMATCH) !== 0;
    },
  };
}
