/**
 * Writes a run's report directory: summary.json, junit.xml, report.html, and
 * (empty when nothing streamed into them) diffs.ndjson and results.ndjson.
 * Files are written to a temporary name and renamed, so a reader never sees
 * half a summary.
 */
import { existsSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DoppelError } from '../core/errors.js';
import { renderHtml } from './html.js';
import { renderJunit } from './junit.js';
import { DIFFS_FILE, RESULTS_FILE } from './ndjson-writer.js';
import type { RunReport } from './types.js';

export const SUMMARY_FILE = 'summary.json';
export const JUNIT_FILE = 'junit.xml';
export const HTML_FILE = 'report.html';

export interface WrittenReport {
  dir: string;
  files: string[];
}

async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, text, { mode: 0o644 });
  await rename(tmp, file);
}

export async function writeReport(dir: string, run: RunReport): Promise<WrittenReport> {
  try {
    await mkdir(dir, { recursive: true });
    const files = [SUMMARY_FILE, JUNIT_FILE, HTML_FILE, DIFFS_FILE, RESULTS_FILE].map((f) => join(dir, f));
    await writeAtomically(join(dir, SUMMARY_FILE), `${JSON.stringify(run, null, 2)}\n`);
    await writeAtomically(join(dir, JUNIT_FILE), renderJunit(run));
    await writeAtomically(join(dir, HTML_FILE), renderHtml(run));
    for (const f of [DIFFS_FILE, RESULTS_FILE]) {
      if (!existsSync(join(dir, f))) await writeFile(join(dir, f), '', { mode: 0o644 });
    }
    return { dir, files };
  } catch (cause) {
    throw new DoppelError('DOPPEL_REPORT_IO', `${dir}: cannot write report (${(cause as NodeJS.ErrnoException).code ?? String(cause)})`, { cause });
  }
}
