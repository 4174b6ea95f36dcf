/**
 * No module of src/ imports itself back through others, type imports
 * included: the layer rule of eslint.config.js keeps folders in order, and
 * this keeps files in order inside a folder too (a cycle would let a module
 * run before its imports are initialised, and means two files are one).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return tsFiles(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** file -> the files it imports (relative specifiers only; `.js` in a specifier names the `.ts` source). */
function importGraph(files: ReadonlyArray<{ name: string; text: string }>): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const f of files) {
    const imported = ts.preProcessFile(f.text, true, true).importedFiles.map((i) => i.fileName);
    const local = imported.filter((s) => s.startsWith('./') || s.startsWith('../'));
    graph.set(
      f.name,
      local.map((s) => relative('/', resolve('/', dirname(f.name), s.replace(/\.js$/, '.ts')))),
    );
  }
  return graph;
}

/** The strongly connected components of more than one file, or of one file importing itself (Tarjan). */
function importCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v)!.includes(v)) cycles.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return cycles;
}

describe('the import graph of src/', () => {
  it('has no cycle', () => {
    const files = tsFiles(SRC).map((p) => ({ name: relative(SRC, p), text: readFileSync(p, 'utf8') }));
    expect(files.length).toBeGreaterThan(50);
    const graph = importGraph(files);
    // every relative import resolves to a file of src/, so no edge escapes the check
    const unresolved = [...graph].flatMap(([f, deps]) => deps.filter((d) => !graph.has(d)).map((d) => `${f} -> ${d}`));
    expect(unresolved).toEqual([]);
    expect(importCycles(graph)).toEqual([]);
  }, 30_000);

  it('a cycle through type imports and re-exports is reported with its files', () => {
    const graph = importGraph([
      { name: 'cli/program.ts', text: "import { registerRecord } from './record.js';" },
      { name: 'cli/record.ts', text: "import type { Bind } from './program.js';\nimport { x } from '../core/x.js';" },
      { name: 'core/x.ts', text: 'export const x = 1;' },
      { name: 'shadow/a.ts', text: "export * from './b.js';" },
      { name: 'shadow/b.ts', text: "export type { A } from './a.js';" },
      { name: 'store/self.ts', text: "import './self.js';" },
    ]);
    expect(importCycles(graph)).toEqual([
      ['cli/program.ts', 'cli/record.ts'],
      ['shadow/a.ts', 'shadow/b.ts'],
      ['store/self.ts'],
    ]);
  });
});
