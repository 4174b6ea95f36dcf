/**
 * Binds the engine's judge ports to doppel's compare, gates and report modules.
 */
import { createComparator } from '../compare/comparator.js';
import { createNoiseLearner } from '../compare/noise.js';
import { notImplemented } from '../core/errors.js';
import { createGateEvaluator, type GateEvaluator } from '../gates/gate-evaluator.js';
import { createRunMetrics, exportGates } from '../gates/run-metrics.js';
import type { GateEvaluatorPort, JudgePorts } from './judge-ports.js';

function toPort(ev: GateEvaluator): GateEvaluatorPort {
  return {
    record: (j) => ev.record(j),
    setMockCounts: (c) => ev.addMockCounts(c),
    results: () => ev.results(),
    cutoff: () => ev.cutoff(),
  };
}

export const defaultJudgePorts: JudgePorts = {
  createComparator: (cfg) => createComparator(cfg),
  createNoiseLearner: (cfg) => createNoiseLearner({ samplesPerEndpoint: cfg.learn_noise, confidence: cfg.noise_confidence }),
  createGateEvaluator: (opts) => toPort(createGateEvaluator(opts)),
  exportGates,
  createRunMetrics: (metrics, runId) => createRunMetrics(metrics, runId, 'replay'),
  readBaselineReport: async () => {
    throw notImplemented('--baseline');
  },
  createReportSink: async () => {
    throw notImplemented('--report');
  },
};
