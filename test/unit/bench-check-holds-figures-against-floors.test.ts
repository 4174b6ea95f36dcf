import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkFloors, collectFigures, parseFloors, type BenchResult } from '../../bench/results.js';

function result(bench: string, figures: Record<string, number>, problems: string[] = []): BenchResult {
  const machine = { node: 'v20', platform: 'linux-x64', cpuModel: 'x', cpus: 2, totalMemMb: 1, freeMemMb: 1, loadAverage: [0, 0, 0] };
  return { bench, quick: false, startedAt: '', finishedAt: '', machine, figures, problems };
}

describe('bench --check', () => {
  const floors = parseFloors(JSON.stringify({ http: { record_rps_vs_fastify_proxy: { min: 0.5 }, lookup_large_vs_1k: { max: 2 } } }), 'floors.json');

  it('passes figures within their floors', () => {
    expect(checkFloors([result('http', { record_rps_vs_fastify_proxy: 0.9, lookup_large_vs_1k: 1.1 })], floors)).toEqual([]);
  });

  it('names each figure under its floor, over its ceiling, or not measured', () => {
    expect(checkFloors([result('http', { record_rps_vs_fastify_proxy: 0.41 })], floors)).toEqual([
      'http.record_rps_vs_fastify_proxy: 0.41 is under its floor 0.5',
      'http.lookup_large_vs_1k: not measured',
    ]);
    expect(checkFloors([result('http', { record_rps_vs_fastify_proxy: 0.5, lookup_large_vs_1k: 2.5 })], floors)).toEqual([
      'http.lookup_large_vs_1k: 2.5 is over its ceiling 2',
    ]);
  });

  it('fails a run its bench flagged, whatever its figures', () => {
    const figures = collectFigures();
    figures.set('record_rps_vs_fastify_proxy', 3);
    figures.set('lookup_large_vs_1k', 1);
    figures.flag('doppel record dropped 12 exchange(s)');
    expect(checkFloors([result('http', figures.figures, figures.problems)], floors)).toEqual(['http: doppel record dropped 12 exchange(s)']);
  });

  it('leaves benches that did not run this time unchecked', () => {
    expect(checkFloors([result('store', {})], floors)).toEqual([]);
  });

  it('rejects a floors file that is not JSON, or whose bounds are not numbers, naming each key', () => {
    expect(() => parseFloors('{ nope', 'floors.json')).toThrow(/^floors\.json: not JSON/);
    expect(() => parseFloors('[]', 'floors.json')).toThrow('floors.json: expected an object of benches');
    let message = '';
    try {
      parseFloors(JSON.stringify({ http: { a: { min: '1' }, b: { at_least: 1 }, c: {}, d: 3 }, pg: 1 }), 'floors.json');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message.split('\n').map((l) => l.trim())).toEqual([
      'floors.json:',
      'http.a.min: expected a number',
      'http.b.at_least: unknown key (min or max)',
      'http.b: needs min or max',
      'http.c: needs min or max',
      'http.d: expected { "min": n } or { "max": n }',
      'pg: expected an object of figures',
    ]);
  });

  it('reads the floors kept in the repository', () => {
    const kept = parseFloors(readFileSync(new URL('../../bench/floors.json', import.meta.url), 'utf8'), 'bench/floors.json');
    expect(Object.keys(kept)).toEqual(expect.arrayContaining(['store', 'http', 'pg', 'compare', 'replay', 'shadow', 'shadow-settle', 'grpc']));
    expect(kept.http?.record_dropped).toEqual({ max: 0 });
  });
});
