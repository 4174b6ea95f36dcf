/**
 * Binds the engine's judge ports to doppel's compare, gates and report modules.
 */
import { createComparator } from '../compare/comparator.js';
import { createNoiseLearner } from '../compare/noise.js';
import { createGateEvaluator, type GateEvaluator } from '../gates/gate-evaluator.js';
import { createRunMetrics, exportGates } from '../gates/run-metrics.js';
import { readBaselineReport } from '../report/baseline-report.js';
import { createDiffCollector } from '../report/diff-collector.js';
import { createDiffWriter, createResultsWriter } from '../report/ndjson-writer.js';
import { REPORT_FORMAT_VERSION, type RunReport } from '../report/types.js';
import { writeReport } from '../report/write-report.js';
import type { GateEvaluatorPort, JudgePorts, ReportSinkPort } from './judge-ports.js';

// The report needs the evaluator's counts, latency and endpoints, which the engine's port does not carry.
const evaluators = new WeakMap<GateEvaluatorPort, GateEvaluator>();

function toPort(ev: GateEvaluator): GateEvaluatorPort {
  const port: GateEvaluatorPort = {
    record: (j) => ev.record(j),
    setMockCounts: (c) => ev.addMockCounts(c),
    results: () => ev.results(),
    cutoff: () => ev.cutoff(),
  };
  evaluators.set(port, ev);
  return port;
}

const VERDICTS = { passed: 'pass', failed: 'fail', aborted: 'aborted' } as const;

export const defaultJudgePorts: JudgePorts = {
  createComparator: (cfg) => createComparator(cfg),
  createNoiseLearner: (cfg) => createNoiseLearner({ samplesPerEndpoint: cfg.learn_noise, confidence: cfg.noise_confidence }),
  createGateEvaluator: (opts) => toPort(createGateEvaluator(opts)),
  exportGates,
  createRunMetrics: (metrics, runId) => createRunMetrics(metrics, runId, 'replay'),

  async readBaselineReport(dir) {
    const rep = await readBaselineReport(dir);
    return {
      get(id) {
        const r = rep.get(id);
        const isMismatch = rep.hasMismatch(id);
        if (r === undefined) return isMismatch ? { durationMs: undefined, isMismatch } : undefined;
        return { durationMs: r.durationMs, isMismatch };
      },
    };
  },

  async createReportSink(dir, runId, judges): Promise<ReportSinkPort> {
    const ev = evaluators.get(judges.evaluator);
    if (ev === undefined) throw new Error('report sink needs an evaluator made by defaultJudgePorts');
    const diffs = createDiffWriter(dir);
    const results = createResultsWriter(dir);
    const collector = createDiffCollector();
    return {
      record(r) {
        const j = r.judged;
        const o = j.outcome;
        results.write({
          exchangeId: j.exchangeId,
          endpoint: j.endpoint,
          status: j.candidateStatus,
          durationMs: j.candidateMs,
          isMatch: j.isAnswered && o?.isMatch === true,
        });
        const known = j.isKnownMismatch === undefined ? {} : { isKnownMismatch: j.isKnownMismatch };
        if (!j.isAnswered) {
          diffs.write({
            exchangeId: j.exchangeId,
            endpoint: j.endpoint,
            result: 'error',
            baselineStatus: j.baselineStatus,
            candidateStatus: undefined,
            diffs: [],
            flags: [],
            ...known,
            ...(r.error === undefined ? {} : { error: r.error }),
          });
        } else if (o !== undefined && !o.isMatch) {
          diffs.write({
            exchangeId: j.exchangeId,
            endpoint: j.endpoint,
            result: 'mismatch',
            baselineStatus: j.baselineStatus,
            candidateStatus: j.candidateStatus,
            diffs: o.diffs,
            ...(o.omittedDiffs === undefined ? {} : { omittedDiffs: o.omittedDiffs }),
            flags: o.flags,
            ...known,
          });
          const subject = { exchangeId: j.exchangeId, endpoint: j.endpoint, baselineStatus: j.baselineStatus, candidateStatus: j.candidateStatus, outcome: o };
          collector.add(subject, collector.wantsSample(j.endpoint) ? r.bodies : undefined);
        }
      },
      async finish(input) {
        await Promise.all([diffs.close(), results.close()]);
        const report: RunReport = {
          v: REPORT_FORMAT_VERSION,
          runId,
          mode: 'replay',
          startedAt: input.run.startedAt,
          finishedAt: input.run.finishedAt ?? new Date().toISOString(),
          verdict: VERDICTS[input.verdict],
          ...(input.run.abortReason === undefined ? {} : { abortReason: input.run.abortReason }),
          baseline: input.baselineDir === undefined ? 'recorded responses' : `baseline run ${input.baselineDir}`,
          target: input.run.target,
          gates: input.gates,
          counts: ev.counts(),
          latency: ev.latency(),
          endpoints: ev.endpoints(),
          noise: judges.noise?.learned() ?? [],
          topDiffs: collector.topDiffs(),
          samples: collector.samples(),
          ...(diffs.dropped > 0 ? { diffsDropped: diffs.dropped } : {}),
        };
        await writeReport(dir, report);
        return dir;
      },
    };
  },
};
