#!/usr/bin/env node
// The `doppel` command, however it is started: `npx doppel`, a package.json
// script, node_modules/.bin/doppel (a symlink), `npm link`, a global install,
// the Docker image. It loads the CLI and calls its main(); nothing here guesses
// whether a module is the process entry.
//
// Which code runs:
//   DOPPEL_ENTRY=src   the TypeScript sources, through tsx
//   DOPPEL_ENTRY=dist  the tsc build (`npm run build`)
//   unset              a checkout (src/ present) runs its sources, so `npx doppel`
//                      and the tests never pick up a stale build; an installed
//                      package (no src/) runs its build.
// A missing or broken entry is an error (exit 2 or 4), never a silent exit 0.
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const USAGE = 2;
const INTERNAL = 4;

/** Resolves the entry module, or says why there is none. */
function chooseEntry() {
  // .bin/doppel and global installs are symlinks: node runs the real file, realpath makes sure.
  const root = join(dirname(realpathSync(fileURLToPath(import.meta.url))), '..');
  const sources = join(root, 'src', 'main.ts');
  const built = join(root, 'dist', 'main.js');
  const asked = process.env.DOPPEL_ENTRY ?? '';
  if (asked !== '' && asked !== 'src' && asked !== 'dist') {
    return { code: USAGE, message: `DOPPEL_ENTRY=${asked} is not an entry: use src (the sources, through tsx) or dist (the build), or leave it unset` };
  }
  const kind = asked === '' ? (existsSync(sources) ? 'src' : 'dist') : asked;
  const file = kind === 'src' ? sources : built;
  if (existsSync(file)) return { kind, file };
  if (kind === 'src') return { code: USAGE, message: `DOPPEL_ENTRY=src but ${sources} is missing: this installation has no sources; unset DOPPEL_ENTRY to run the build` };
  const fix = existsSync(sources) ? 'run `npm run build` first, or unset DOPPEL_ENTRY to run the sources' : 'this installation is incomplete; reinstall doppel';
  return { code: USAGE, message: `${built} is missing: ${fix}` };
}

async function start() {
  const entry = chooseEntry();
  if (entry.file === undefined) {
    process.stderr.write(`doppel: ${entry.message}\n`);
    process.exitCode = entry.code;
    return;
  }
  let cli;
  try {
    if (entry.kind === 'src') {
      const { register } = await import('tsx/esm/api');
      register();
    }
    cli = await import(pathToFileURL(entry.file).href);
  } catch (err) {
    process.stderr.write(`doppel: internal error: cannot load ${entry.file}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = INTERNAL;
    return;
  }
  if (typeof cli.main !== 'function') {
    process.stderr.write(`doppel: internal error: ${entry.file} has no main() to run\n`);
    process.exitCode = INTERNAL;
    return;
  }
  cli.main(process.argv.slice(2));
}

// An unexpected failure here is a bug (exit 4), never node's exit 1, which means "a gate failed".
start().catch((err) => {
  process.stderr.write(`doppel: internal error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = INTERNAL;
});
