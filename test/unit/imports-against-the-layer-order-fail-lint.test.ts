/**
 * The layer rule of eslint.config.js, run on small sources placed in src/:
 * an import from a higher tier, type-only or re-exported, is an error naming
 * both modules; imports downward and inside a folder pass.
 */
import { Linter } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';

// eslint.config.js is plain JavaScript without declarations: loaded by URL and typed here.
const CONFIG = new URL('../../eslint.config.js', import.meta.url).href;
const config = ((await import(CONFIG)) as { default: Linter.Config[] }).default;
// Only the layer rule: the type-aware rules need a program these snippets are not part of.
const layerOnly = config.filter((c) => c.rules?.['no-restricted-imports'] !== undefined);

function lint(file: string, text: string): string[] {
  const linter = new Linter({ configType: 'flat', cwd: process.cwd() });
  const messages = linter.verify(text, [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser } }, ...layerOnly], file);
  return messages.map((m) => m.message);
}

describe('the layer rule', () => {
  it('covers every top-level module of src/', () => {
    const covered = layerOnly.flatMap((c) => c.files as string[]);
    for (const module of ['core', 'config', 'metrics', 'protocols', 'store', 'compare', 'gates', 'report', 'judge', 'capture', 'mock', 'replay', 'shadow', 'formats', 'admin', 'orchestrate', 'cli']) {
      expect(covered).toContain(`src/${module}/**/*.ts`);
    }
    expect(covered).toEqual(expect.arrayContaining(['src/daemon.ts', 'src/main.ts']));
  });

  it('fails an import from a higher tier, naming both modules', () => {
    expect(lint('src/mock/http-mock.ts', "import type { AdminProviders } from '../admin/types.js';")).toEqual([
      "'../admin/types.js' import is restricted from being used by a pattern. mock may not import admin: imports run one way (layer order in eslint.config.js and README.md).",
    ]);
    expect(lint('src/mock/pg/server.ts', "import { x } from '../../capture/recorder.js';")).toHaveLength(1);
    expect(lint('src/core/redact.ts', "export { compilePath } from '../compare/rule-set.js';")).toHaveLength(1);
    expect(lint('src/replay/run-replay.ts', "import { startDaemon } from '../daemon.js';")).toHaveLength(1);
    expect(lint('src/daemon.ts', "import { buildProgram } from './cli/program.js';")).toHaveLength(1);
  });

  it('fails an import between two modules of one tier', () => {
    expect(lint('src/replay/replay-run.ts', "import type { ShadowRun } from '../shadow/shadow-run.js';")).toEqual([
      "'../shadow/shadow-run.js' import is restricted from being used by a pattern. replay may not import shadow: imports run one way (layer order in eslint.config.js and README.md).",
    ]);
  });

  it('passes imports downward, inside a folder and of packages', () => {
    const text = [
      "import { DoppelError } from '../../core/errors.js';",
      "import type { PgMock } from './types.js';",
      "import { stubMatches } from '../http-stubs.js';",
      "import { LRUCache } from 'lru-cache';",
      "import { createServer } from 'node:net';",
    ].join('\n');
    expect(lint('src/mock/pg/server.ts', text)).toEqual([]);
    expect(lint('src/cli/program.ts', "import { startDaemon } from '../daemon.js';\nimport { x } from './record.js';")).toEqual([]);
  });
});
