/**
 * Binds the engine's judge ports to doppel's compare, gates and report modules.
 */
import { createComparator } from '../compare/comparator.js';
import { createNoiseLearner } from '../compare/noise.js';
import { createGateEvaluator, type GateEvaluator } from '../gates/gate-evaluator.js';
import { createRunMetrics, exportGates } from '../gates/run-metrics.js';
import { readBaselineReport } from '../report/baseline-report.js';
import { createJudgedStreams } from '../report/judged-streams.js';
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
    const streams = createJudgedStreams(dir, judges.maxDecodedBytes === undefined ? {} : { maxDecodedBytes: judges.maxDecodedBytes });
    return {
      record(r) {
        const o = r.judged.outcome;
        streams.record(r.judged, o !== undefined && !o.isMatch, r.bodies, r.error);
      },
      async finish(input) {
        await streams.close();
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
          topDiffs: streams.collector.topDiffs(),
          samples: streams.collector.samples(),
          ...(streams.diffsDropped > 0 ? { diffsDropped: streams.diffsDropped } : {}),
        };
        await writeReport(dir, report);
        return dir;
      },
    };
  },
};
