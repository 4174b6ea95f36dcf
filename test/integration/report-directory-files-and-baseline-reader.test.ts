import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile, mkdir, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDiffWriter, createResultsWriter } from '../../src/report/ndjson-writer.js';
import { readBaselineReport } from '../../src/report/baseline-report.js';
import { writeReport } from '../../src/report/write-report.js';
import { DoppelError } from '../../src/core/errors.js';
import { sampleRun } from '../helpers/report-fixtures.js';
import type { DiffRecord } from '../../src/report/types.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'doppel-report-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const diff = (id: string): DiffRecord => ({
  exchangeId: id,
  endpoint: 'GET /a',
  result: 'mismatch',
  baselineStatus: 200,
  candidateStatus: 200,
  diffs: [{ path: '$.x', kind: 'changed', expected: 1, actual: 2 }],
  flags: [],
});

describe('diff writer', () => {
  it('streams every mismatch to diffs.ndjson, one line each', async () => {
    const w = createDiffWriter(dir);
    for (let i = 0; i < 1000; i++) expect(w.write(diff(`ex-${i}`))).toBe(true);
    await w.flush();
    const partial = (await readFile(join(dir, 'diffs.ndjson'), 'utf8')).split('\n').filter(Boolean);
    expect(partial.length).toBe(1000);
    await w.close();
    expect(w.written).toBe(1000);
    expect(JSON.parse(partial[999]!).exchangeId).toBe('ex-999');
  });

  it('drops and counts records beyond its buffer instead of queuing them', async () => {
    const w = createDiffWriter(dir, { maxBufferBytes: 1024 });
    let accepted = 0;
    for (let i = 0; i < 100; i++) if (w.write(diff(`ex-${i}`))) accepted++;
    await w.close();
    expect(w.dropped).toBeGreaterThan(0);
    expect(w.written).toBe(accepted);
    expect(w.written + w.dropped).toBe(100);
    expect(w.write(diff('late'))).toBe(false);
  });

  it('reports a file it cannot create when closed', async () => {
    await mkdir(join(dir, 'diffs.ndjson'));
    const w = createDiffWriter(dir);
    w.write(diff('a'));
    await expect(w.close()).rejects.toThrow(/diffs\.ndjson: cannot create report file \(EISDIR\)/);
  });
});

describe('baseline report', () => {
  it('pairs exchanges by id: status, duration, match, and mismatches from diffs.ndjson', async () => {
    const results = createResultsWriter(dir);
    results.write({ exchangeId: 'a', endpoint: 'GET /a', status: 200, durationMs: 12.5, isMatch: true });
    results.write({ exchangeId: 'b', endpoint: 'GET /a', status: 500, durationMs: 3, isMatch: false });
    results.write({ exchangeId: 'c', endpoint: 'GET /a', status: undefined, durationMs: undefined, isMatch: false });
    for (let i = 0; i < 3000; i++) results.write({ exchangeId: `bulk-${i}`, endpoint: 'GET /b', status: 200, durationMs: i, isMatch: true });
    await results.close();
    const diffs = createDiffWriter(dir);
    diffs.write(diff('b'));
    diffs.write(diff('only-in-diffs'));
    await diffs.close();
    await writeReport(dir, sampleRun());
    await writeFile(join(dir, 'results.ndjson'), (await readFile(join(dir, 'results.ndjson'), 'utf8')) + 'not json\n');

    const base = await readBaselineReport(dir);
    expect(base.summary.runId).toBe(sampleRun().runId);
    expect(base.size).toBe(3003);
    expect(base.get('a')).toEqual({ status: 200, durationMs: 12.5, isMatch: true, hasMismatch: false });
    expect(base.get('b')).toEqual({ status: 500, durationMs: 3, isMatch: false, hasMismatch: true });
    expect(base.get('c')).toEqual({ status: undefined, durationMs: undefined, isMatch: false, hasMismatch: true });
    expect(base.get('bulk-2999')?.durationMs).toBe(2999);
    expect(base.hasMismatch('only-in-diffs')).toBe(true);
    expect(base.hasMismatch('a')).toBe(false);
    expect(base.get('nope')).toBeUndefined();
    expect(base.problems).toEqual([expect.stringMatching(/results\.ndjson:3004: /)]);
  });

  it('names the path of a missing or invalid report directory', async () => {
    const missing = join(dir, 'nope');
    await expect(readBaselineReport(missing)).rejects.toThrow(DoppelError);
    await expect(readBaselineReport(missing)).rejects.toThrow(`${join(missing, 'summary.json')}: baseline report not found`);
    await writeFile(join(dir, 'summary.json'), '{"v": 1');
    await expect(readBaselineReport(dir)).rejects.toThrow(/summary\.json: not valid JSON/);
    await writeFile(join(dir, 'summary.json'), '{"v": 7, "runId": "x"}');
    await expect(readBaselineReport(dir)).rejects.toThrow(/report format version 7 is not supported/);
    const err = await readBaselineReport(missing).catch((e: unknown) => e);
    expect((err as DoppelError).exitCode).toBe(2);
  });
});

describe('report directory', () => {
  it('writes summary.json, junit.xml, report.html, diffs.ndjson and results.ndjson', async () => {
    const run = sampleRun();
    const written = await writeReport(join(dir, 'out'), run);
    expect(written.files.map((f) => f.slice(f.lastIndexOf('/') + 1))).toEqual(['summary.json', 'junit.xml', 'report.html', 'diffs.ndjson', 'results.ndjson']);
    const summary = JSON.parse(await readFile(join(dir, 'out', 'summary.json'), 'utf8'));
    expect(summary).toMatchObject({ v: 1, runId: run.runId, verdict: 'fail', mode: 'replay' });
    expect(summary.gates[1]).toMatchObject({ gate: 'body_match_rate', value: 0.8, isPassing: false });
    expect(summary.counts.requests).toBe(10);
    expect(summary.latency.candidate.p95).toBe(11);
    expect(summary.endpoints).toHaveLength(2);
    expect(summary.noise[0].path).toBe('$.servedBy');
    expect(summary.topDiffs[0].path).toBe('$.total');
    expect(await readFile(join(dir, 'out', 'diffs.ndjson'), 'utf8')).toBe('');
  });

  it('keeps diffs.ndjson that was streamed before the report', async () => {
    await writeFile(join(dir, 'diffs.ndjson'), '{"exchangeId":"a"}\n');
    await writeReport(dir, sampleRun());
    expect(await readFile(join(dir, 'diffs.ndjson'), 'utf8')).toBe('{"exchangeId":"a"}\n');
  });

  it('fails with a report error naming the directory when it cannot write', async () => {
    const file = join(dir, 'file');
    await writeFile(file, 'x');
    await chmod(file, 0o400);
    const err = await writeReport(join(file, 'sub'), sampleRun()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DoppelError);
    expect((err as DoppelError).message).toContain(join(file, 'sub'));
  });
});
