/**
 * Starting doppel loads main.ts, the program and each command's registration
 * (name, flags, help) and nothing else: an action's modules, config loading
 * and every npm package but commander come in by `import()` when a command
 * runs. Module loading is most of a start from sources, so a static import
 * that pulls an action back in costs every run, `--help` included.
 */
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../../src/', import.meta.url));

/**
 * The specifiers a module loads when it is evaluated: every import and
 * re-export but `import type` / `export type`. `import { type X }` still
 * loads its module under verbatimModuleSyntax; `import()` is left out, it
 * loads when called.
 */
function staticImports(text: string): string[] {
  const file = ts.createSourceFile('m.ts', text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const out: string[] = [];
  for (const s of file.statements) {
    if (ts.isImportDeclaration(s) && s.importClause?.isTypeOnly !== true && ts.isStringLiteral(s.moduleSpecifier)) out.push(s.moduleSpecifier.text);
    if (ts.isExportDeclaration(s) && !s.isTypeOnly && s.moduleSpecifier !== undefined && ts.isStringLiteral(s.moduleSpecifier)) out.push(s.moduleSpecifier.text);
  }
  return out;
}

/** The source files (relative to src/) and npm packages loaded by evaluating `entry`. */
function loadedAtStart(entry: string, read: (file: string) => string): { files: string[]; packages: string[] } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    for (const spec of staticImports(read(file))) {
      if (spec.startsWith('./') || spec.startsWith('../')) visit(relative('/', resolve('/', dirname(file), spec.replace(/\.js$/, '.ts'))));
      else if (!spec.startsWith('node:')) packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] as string));
    }
  };
  visit(entry);
  return { files: [...files].sort(), packages: [...packages].sort() };
}

describe('starting doppel', () => {
  it('loads the program and the command registrations, and of npm packages commander only', () => {
    const loaded = loadedAtStart('main.ts', (f) => readFileSync(resolve(SRC, f), 'utf8'));
    const commands = ['record', 'mock', 'replay', 'shadow', 'run', 'transform', 'import', 'export', 'rules', 'report'];
    expect(loaded.files).toEqual(['main.ts', 'core/errors.ts', 'cli/program.ts', 'cli/context.ts', ...commands.map((c) => `cli/${c}.ts`)].sort());
    expect(loaded.packages).toEqual(['commander']);
  });

  it('counts a value import and an inline type import as loaded, a type import and import() as not', () => {
    const sources: Record<string, string> = {
      'main.ts': "import { a } from './a.js';\nimport type { T } from './t.js';\nexport type { U } from './u.js';",
      'a.ts': "import { type B } from './b.js';\nimport pino from 'pino';\nexport * from './c.js';\nexport const a = () => import('./lazy.js');",
      'b.ts': "import { readFileSync } from 'node:fs';\nimport { Value } from '@sinclair/typebox/value';",
      'c.ts': '',
    };
    expect(loadedAtStart('main.ts', (f) => sources[f] ?? '')).toEqual({ files: ['a.ts', 'b.ts', 'c.ts', 'main.ts'], packages: ['@sinclair/typebox', 'pino'] });
  });
});
