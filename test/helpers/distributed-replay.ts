/**
 * Shared pieces of the distributed replay tests: traffic of many sessions of
 * a few steps each, a target that notes which steps of which session arrive
 * (and plants a mismatch in some), and runners for `doppel replay` as one
 * process or as workers of one run.
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { HttpExchange } from '../../src/core/exchange.js';
import { newExchangeId } from '../../src/core/ids.js';
import { createFileStoreWriter } from '../../src/store/file-store.js';
import { runCli } from './cli.js';
import { startUpstream, type Upstream } from './http.js';

export const STEPS = 2;

/** Sessions s-0..s-(n-1), each STEPS requests GET /s/I/step/K, recorded as answering {"s":I,"k":K,"v":1}. */
export async function writeSessionTraffic(dir: string, sessions: number): Promise<void> {
  const w = await createFileStoreWriter({ dir });
  const t0 = Date.parse('2026-11-26T13:00:00.000Z');
  // Appends queue in order; each resolves at its batch's flush, so they are awaited together.
  const appended: Array<Promise<void>> = [];
  for (let k = 0; k < STEPS; k++) {
    for (let i = 0; i < sessions; i++) {
      const ex: HttpExchange = {
        v: 1,
        id: newExchangeId(t0 + k),
        session: `s-${i}`,
        parent: null,
        direction: 'inbound',
        service: 'orders',
        protocol: 'http',
        startedAt: new Date(t0 + k).toISOString(),
        durationMs: 1,
        tags: {},
        http: {
          request: { method: 'GET', url: `/s/${i}/step/${k}`, headers: [['x-session-id', `s-${i}`]], body: '', bodyEncoding: 'utf8', truncated: false },
          response: { status: 200, headers: [['content-type', 'application/json']], body: JSON.stringify({ s: i, k, v: 1 }), bodyEncoding: 'utf8', truncated: false },
        },
      };
      appended.push(w.append(ex));
    }
  }
  await Promise.all(appended);
  await w.close();
}

export interface SessionTarget extends Upstream {
  /** steps in arrival order, per session */
  steps: Map<string, number[]>;
  total(): number;
}

/** Answers like the recording, except step 1 of every 17th session (v: 2); `delayMs` holds every answer. */
export async function startSessionTarget(delayMs = 0): Promise<SessionTarget> {
  const steps = new Map<string, number[]>();
  let total = 0;
  const up = await startUpstream((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    const m = /^\/s\/(\d+)\/step\/(\d+)$/.exec(req.url ?? '');
    const i = Number(m?.[1]);
    const k = Number(m?.[2]);
    const id = `s-${i}`;
    const list = steps.get(id) ?? [];
    list.push(k);
    steps.set(id, list);
    total++;
    const answer = () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ s: i, k, v: i % 17 === 0 && k === 1 ? 2 : 1 }));
    };
    if (delayMs > 0) setTimeout(answer, delayMs);
    else answer();
  });
  return {
    ...up,
    steps,
    total: () => total,
  };
}

export const GATES_YAML = 'quality_gates:\n  status_pass_rate: ">= 0.99"\n  body_match_rate: ">= 0.99"\n  field_match_rate: ">= 0.9"\n';

export async function writeGates(dir: string): Promise<string> {
  const file = join(dir, 'gates.yaml');
  await writeFile(file, GATES_YAML);
  return file;
}

export async function readSummary(dir: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as Record<string, unknown>;
}

export async function readLines(file: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(file, 'utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** What must be equal between a one-process run and a merged run: everything but times, ids and measured durations. */
export function comparable(summary: Record<string, unknown>): Record<string, unknown> {
  const { startedAt: _s, finishedAt: _f, runId: _r, distributed: _d, latency, endpoints, ...rest } = summary as Record<string, unknown> & {
    latency: { candidate: { count: number }; baseline: { count: number } };
    endpoints: Array<Record<string, unknown>>;
  };
  return {
    ...rest,
    latencyCounts: { candidate: latency.candidate.count, baseline: latency.baseline.count },
    endpoints: endpoints.map(({ latency: l, ...e }) => ({ ...e, candidateCount: (l as { candidate: { count: number } }).candidate.count })),
  };
}

export interface WorkersScenario {
  /** the coordinator: the shared Redis or a cluster */
  url: string;
  runId: string;
  dir: string;
  traffic: string;
  gates: string;
  sessions: number;
}

/**
 * One process, then 3 workers of one run over the same traffic: every session reaches the target
 * once and in order, and the merged report (also written again by `doppel report`) equals the one
 * process's.
 */
export async function expectWorkersEqualOneProcess(s: WorkersScenario): Promise<void> {
  const target = await startSessionTarget();
  const single = join(s.dir, `single-${s.runId}`);
  const report = join(s.dir, `merged-${s.runId}`);
  try {
    const base = ['replay', '--traffic', s.traffic, '--target', target.url, '--gates', s.gates, '--concurrency', '12'];
    const one = await runCli([...base, '--report', single], { timeoutMs: 280_000 });
    expect(one.stderr).not.toContain('internal error');
    expect(one.code).toBe(1);
    target.steps.clear();
    const results = await Promise.all(
      [1, 2, 3].map((n) => runCli([...base, '--report', report, '--coordinator', s.url, '--run-id', s.runId, '--worker-id', `w${n}`], { timeoutMs: 280_000 })),
    );
    for (const r of results) expect(r.stderr).not.toContain('internal error');
    // The worker that wrote the merged report exits with the run's verdict; the others did their share.
    expect(results.map((r) => r.code).sort(), results.map((r) => r.stderr.slice(-400)).join('\n')).toEqual([0, 0, 1]);
    expect(target.steps.size).toBe(s.sessions);
    for (const [session, steps] of target.steps) expect(steps, session).toEqual([0, 1]);

    const merged = await readSummary(report);
    expect(comparable(merged)).toEqual(comparable(await readSummary(single)));
    const d = merged.distributed as { sessions: number; resent: number; workers: Array<{ worker: string; sessions: number }> };
    expect(d.sessions).toBe(s.sessions);
    expect(d.resent).toBe(0);
    expect(d.workers.map((w) => w.worker)).toEqual(['w1', 'w2', 'w3']);
    // How the sessions split depends on which worker asks first; that they add up to the run does not.
    expect(d.workers.reduce((n, w) => n + w.sessions, 0)).toBe(s.sessions);
    const ids = (rows: Array<Record<string, unknown>>) => rows.map((r) => r.exchangeId as string).sort();
    expect(ids(await readLines(join(report, 'results.ndjson')))).toEqual(ids(await readLines(join(single, 'results.ndjson'))));
    expect(ids(await readLines(join(report, 'diffs.ndjson')))).toEqual(ids(await readLines(join(single, 'diffs.ndjson'))));

    const again = await runCli(['report', '--run-id', s.runId, '--coordinator', s.url, '--out', join(s.dir, `again-${s.runId}`)]);
    expect(again.code).toBe(1);
    expect(again.stdout).toContain(`${s.sessions} sessions from 3 workers`);
    expect(comparable(await readSummary(join(s.dir, `again-${s.runId}`)))).toEqual(comparable(merged));
  } finally {
    await target.close();
  }
}

/**
 * After a run that lost a worker: every exchange judged exactly once, every
 * session reached the target, and each delivery of a session (a re-sent one
 * starts again from its first step) came in order.
 */
export async function expectEachSessionJudgedOnceInOrder(report: string, target: SessionTarget, sessions: number, resentSessions: readonly string[]): Promise<void> {
  const results = await readLines(join(report, 'results.ndjson'));
  expect(results.length).toBe(sessions * STEPS);
  expect(new Set(results.map((r) => r.exchangeId)).size).toBe(sessions * STEPS);
  expect(target.steps.size).toBe(sessions);
  for (const [session, steps] of target.steps) {
    if (resentSessions.includes(session)) expect(steps.slice(-STEPS), session).toEqual([0, 1]);
    else expect(steps, session).toEqual([0, 1]);
  }
}
