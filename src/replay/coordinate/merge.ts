/**
 * The merged report of a coordinated run: every worker's partial absorbed
 * into one evaluator, one noise learner and one diff collector, which then
 * read as one process that judged all the run's sessions. Written by the last
 * worker to finish, or by `doppel report --run-id ID --coordinator URL`.
 */
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { createNoiseLearner } from '../../compare/noise.js';
import { DoppelError } from '../../core/errors.js';
import { createGateEvaluator } from '../../gates/gate-evaluator.js';
import type { Verdict } from '../../gates/types.js';
import { createDiffCollector } from '../../report/diff-collector.js';
import { DIFFS_FILE, RESULTS_FILE } from '../../report/ndjson-writer.js';
import { REPORT_FORMAT_VERSION, type RunReport } from '../../report/types.js';
import { writeReport } from '../../report/write-report.js';
import type { CommitLines, Coordinator, WorkerPartial } from './types.js';

/** What summary.json adds for a coordinated run. */
export interface DistributedSummary {
  distributed: {
    workers: Array<{ worker: string; sessions: number; resent: number; abortReason?: string }>;
    /** sessions judged, each once */
    sessions: number;
    /** sessions sent again because the worker holding them was lost */
    resent: number;
    resentSessions: string[];
  };
}

export type MergedReport = RunReport & DistributedSummary;

export async function mergeRunReport(coordinator: Coordinator, runId: string): Promise<MergedReport> {
  const partials = await coordinator.partials();
  const first = partials[0];
  if (first === undefined) throw new DoppelError('DOPPEL_INPUT_INVALID', `${coordinator.display}: no worker has committed anything to this run`);
  const run = first.run;
  const evaluator = createGateEvaluator({ gates: run.gates, cutoffs: run.cutoffs, hasLatencyBaseline: run.hasLatencyBaseline });
  const noise = createNoiseLearner({ samplesPerEndpoint: 0, confidence: run.noiseConfidence });
  const collector = createDiffCollector();
  for (const p of partials) {
    evaluator.absorb(p.evaluator);
    noise.absorb(p.noise);
    collector.absorb(p.diffs);
  }
  const abortReason = partials.find((p) => p.abortReason !== undefined)?.abortReason;
  const gates = evaluator.results();
  const verdict: Verdict = abortReason !== undefined ? 'aborted' : gates.some((g) => !g.isPassing) ? 'fail' : 'pass';
  const times = (pick: (p: WorkerPartial) => string | undefined) => partials.map(pick).filter((t): t is string => t !== undefined).sort();
  const finished = times((p) => p.finishedAt);
  return {
    v: REPORT_FORMAT_VERSION,
    runId,
    mode: 'replay',
    startedAt: times((p) => p.run.startedAt)[0] ?? run.startedAt,
    finishedAt: finished[finished.length - 1] ?? new Date().toISOString(),
    verdict,
    ...(abortReason === undefined ? {} : { abortReason }),
    baseline: run.baseline,
    target: run.target,
    gates,
    counts: evaluator.counts(),
    latency: evaluator.latency(),
    endpoints: evaluator.endpoints(),
    noise: noise.learned(),
    topDiffs: collector.topDiffs(),
    samples: collector.samples(),
    distributed: {
      workers: partials.map((p) => ({ worker: p.worker, sessions: p.sessions, resent: p.resent, ...(p.abortReason === undefined ? {} : { abortReason: p.abortReason }) })),
      sessions: partials.reduce((n, p) => n + p.sessions, 0),
      resent: partials.reduce((n, p) => n + p.resent, 0),
      resentSessions: partials.flatMap((p) => p.resentSessions).slice(0, 100),
    },
  };
}

async function writeLines(coordinator: Coordinator, kind: keyof CommitLines, file: string): Promise<void> {
  const fh = await open(file, 'w', 0o644);
  try {
    for await (const page of coordinator.lines(kind)) await fh.write(`${page.join('\n')}\n`);
  } finally {
    await fh.close();
  }
}

/** Writes the merged report directory: summary.json, junit.xml, report.html, diffs.ndjson, results.ndjson. */
export async function writeMergedReport(coordinator: Coordinator, runId: string, dir: string): Promise<MergedReport> {
  const report = await mergeRunReport(coordinator, runId);
  try {
    await mkdir(dir, { recursive: true });
    await writeLines(coordinator, 'diffs', join(dir, DIFFS_FILE));
    await writeLines(coordinator, 'results', join(dir, RESULTS_FILE));
  } catch (cause) {
    if (cause instanceof DoppelError) throw cause;
    throw new DoppelError('DOPPEL_REPORT_IO', `${dir}: cannot write report (${(cause as NodeJS.ErrnoException).code ?? String(cause)})`, { cause });
  }
  await writeReport(dir, report);
  return report;
}
