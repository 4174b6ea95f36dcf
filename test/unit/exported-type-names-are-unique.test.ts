/**
 * One name, one meaning: no two modules under src/ export a type (interface,
 * type alias, class) of the same name, so a reader who meets `DiffSample`
 * or `RunCounts` knows which one it is without looking at the import.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
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

function isExported(node: ts.Node): boolean {
  return ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
}

/** Exported type names -> the files that declare them, for names declared in more than one file. */
function duplicateTypeNames(files: ReadonlyArray<{ name: string; text: string }>): Map<string, string[]> {
  const byName = new Map<string, string[]>();
  for (const f of files) {
    const sf = ts.createSourceFile(f.name, f.text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
    for (const s of sf.statements) {
      const isType = ts.isInterfaceDeclaration(s) || ts.isTypeAliasDeclaration(s) || ts.isClassDeclaration(s);
      if (!isType || s.name === undefined || !isExported(s)) continue;
      const seen = byName.get(s.name.text) ?? [];
      // An interface may be declared twice in one file (declaration merging): still one name.
      if (!seen.includes(f.name)) seen.push(f.name);
      byName.set(s.name.text, seen);
    }
  }
  return new Map([...byName].filter(([, where]) => where.length > 1));
}

describe('exported type names under src/', () => {
  it('are declared by one module each', () => {
    const files = tsFiles(SRC).map((p) => ({ name: relative(SRC, p), text: readFileSync(p, 'utf8') }));
    expect(files.length).toBeGreaterThan(50);
    expect(Object.fromEntries(duplicateTypeNames(files))).toEqual({});
    // Parsing every source file takes seconds on a loaded machine.
  }, 30_000);

  it('a name exported by two modules is reported with both files', () => {
    const dups = duplicateTypeNames([
      { name: 'a.ts', text: 'export interface RunCounts { sent: number }\nexport type Local = string;' },
      { name: 'b.ts', text: 'export type RunCounts = { requests: number };\ninterface Local { x: number }' },
      { name: 'c.ts', text: 'export class Local {}' },
    ]);
    expect(Object.fromEntries(dups)).toEqual({ RunCounts: ['a.ts', 'b.ts'], Local: ['a.ts', 'c.ts'] });
  });
});
