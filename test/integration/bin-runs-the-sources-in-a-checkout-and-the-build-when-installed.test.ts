/**
 * bin/doppel.js picks the code it runs and calls its main(); it never guesses
 * whether a module is the entry, and never exits 0 without having run one.
 * The real bin is copied into package layouts whose src/main.ts and
 * dist/main.js say which one ran, and started the ways npm starts it:
 * directly, through a node_modules/.bin symlink, through an `npm link` chain.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOPPEL_BIN, ROOT } from '../helpers/cli.js';

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs an executable with DOPPEL_ENTRY set as given (absent: unset). */
function run(file: string, args: string[], entry?: string, cwd = tmpdir()): Promise<Ran> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.DOPPEL_ENTRY;
  if (entry !== undefined) env.DOPPEL_ENTRY = entry;
  return new Promise((resolve) => {
    execFile(file, args, { cwd, env, timeout: 45_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

const SRC_MAIN = `export function main(argv: readonly string[]): void {\n  const from: string = 'src';\n  process.stdout.write(\`\${from} main ran: \${argv.join(' ')}\\n\`);\n}\n`;
const DIST_MAIN = `export function main(argv) {\n  process.stdout.write('dist main ran: ' + argv.join(' ') + '\\n');\n}\n`;

/** A package directory holding a copy of the real bin and the entries asked for. */
async function layout(root: string, parts: { src?: string; dist?: string }): Promise<string> {
  await mkdir(join(root, 'bin'), { recursive: true });
  await copyFile(DOPPEL_BIN, join(root, 'bin', 'doppel.js'));
  // tsx, for the sources, resolves from the package's own node_modules as in a checkout.
  await symlink(join(ROOT, 'node_modules'), join(root, 'node_modules'), 'dir');
  if (parts.src !== undefined) {
    await mkdir(join(root, 'src'));
    await writeFile(join(root, 'src', 'main.ts'), parts.src);
  }
  if (parts.dist !== undefined) {
    await mkdir(join(root, 'dist'));
    await writeFile(join(root, 'dist', 'main.js'), parts.dist);
  }
  await writeFile(join(root, 'package.json'), JSON.stringify({ name: 'doppel', version: '9.9.9', type: 'module', bin: { doppel: 'bin/doppel.js' } }));
  return join(root, 'bin', 'doppel.js');
}

describe('bin/doppel.js', () => {
  let work: string;
  let checkout: string;
  let installed: string;
  let sourcesOnly: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'doppel-bin-'));
    checkout = await layout(join(work, 'checkout'), { src: SRC_MAIN, dist: DIST_MAIN });
    installed = await layout(join(work, 'installed'), { dist: DIST_MAIN });
    sourcesOnly = await layout(join(work, 'sources-only'), { src: SRC_MAIN });
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('runs the sources in a checkout even when a (possibly stale) build is there', async () => {
    const r = await run(process.execPath, [checkout, 'replay', '--help']);
    expect(r).toMatchObject({ code: 0, stdout: 'src main ran: replay --help\n' });
  });

  it('runs the build in an installed package, which has no sources', async () => {
    const r = await run(process.execPath, [installed, '--version']);
    expect(r).toMatchObject({ code: 0, stdout: 'dist main ran: --version\n' });
  });

  it('DOPPEL_ENTRY=dist runs the build of a checkout, DOPPEL_ENTRY=src its sources', async () => {
    expect((await run(process.execPath, [checkout, 'x'], 'dist')).stdout).toBe('dist main ran: x\n');
    expect((await run(process.execPath, [checkout, 'x'], 'src')).stdout).toBe('src main ran: x\n');
  });

  it('runs through a node_modules/.bin symlink and through an npm link chain', async () => {
    const app = join(work, 'app');
    await mkdir(join(app, 'node_modules', '.bin'), { recursive: true });
    await symlink(join(work, 'installed'), join(app, 'node_modules', 'doppel'), 'dir');
    await symlink('../doppel/bin/doppel.js', join(app, 'node_modules', '.bin', 'doppel'));
    expect(await run(join(app, 'node_modules', '.bin', 'doppel'), ['--version'], undefined, app)).toMatchObject({ code: 0, stdout: 'dist main ran: --version\n' });
    // npm link: PREFIX/bin/doppel -> ../lib/node_modules/doppel/bin/doppel.js, and that package directory -> the checkout.
    const prefix = join(work, 'prefix');
    await mkdir(join(prefix, 'bin'), { recursive: true });
    await mkdir(join(prefix, 'lib', 'node_modules'), { recursive: true });
    await symlink(join(work, 'checkout'), join(prefix, 'lib', 'node_modules', 'doppel'), 'dir');
    await symlink('../lib/node_modules/doppel/bin/doppel.js', join(prefix, 'bin', 'doppel'));
    expect(await run(join(prefix, 'bin', 'doppel'), ['mock'])).toMatchObject({ code: 0, stdout: 'src main ran: mock\n' });
  });

  it('a chosen entry that is missing is exit 2 saying what to do, never a silent 0', async () => {
    const noBuild = await run(process.execPath, [sourcesOnly, '--version'], 'dist');
    expect(noBuild.code).toBe(2);
    expect(noBuild.stdout).toBe('');
    expect(noBuild.stderr).toContain(`${join(work, 'sources-only', 'dist', 'main.js')} is missing: run \`npm run build\` first`);
    const noSources = await run(process.execPath, [installed, '--version'], 'src');
    expect(noSources.code).toBe(2);
    expect(noSources.stderr).toContain('DOPPEL_ENTRY=src but');
    expect(noSources.stderr).toContain('this installation has no sources');
    const broken = await layout(join(work, 'broken-install'), {});
    const r = await run(process.execPath, [broken, '--version']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('this installation is incomplete; reinstall doppel');
  });

  it('an unknown DOPPEL_ENTRY is exit 2 naming the choices', async () => {
    const r = await run(process.execPath, [checkout, '--version'], 'build');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('DOPPEL_ENTRY=build is not an entry: use src');
  });

  it('an entry that fails to load, or has no main(), is exit 4, not 1 (the gate verdict) and not 0', async () => {
    const throwing = await layout(join(work, 'throwing'), { dist: "throw new Error('half-written build');\n" });
    const a = await run(process.execPath, [throwing, '--version']);
    expect(a.code).toBe(4);
    expect(a.stderr).toContain('doppel: internal error: cannot load');
    expect(a.stderr).toContain('half-written build');
    const mainless = await layout(join(work, 'mainless'), { dist: 'export const version = 1;\n' });
    const b = await run(process.execPath, [mainless, '--version']);
    expect(b.code).toBe(4);
    expect(b.stderr).toContain('has no main() to run');
  });
});

describe('the real bin and entry', () => {
  let work: string;
  let version: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'doppel-bin-real-'));
    version = (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('node_modules/.bin/doppel, a symlink in another directory, prints the package.json version', async () => {
    await mkdir(join(work, 'node_modules', '.bin'), { recursive: true });
    await symlink(DOPPEL_BIN, join(work, 'node_modules', '.bin', 'doppel'));
    const r = await run(join(work, 'node_modules', '.bin', 'doppel'), ['--version'], undefined, work);
    expect(r).toMatchObject({ code: 0, stdout: `${version}\n` });
  });

  it('a command through the symlink really runs: bad input is exit 2, not a silent 0', async () => {
    const r = await run(join(work, 'node_modules', '.bin', 'doppel'), ['replay', '--target', 'http://127.0.0.1:9'], undefined, work);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--traffic');
  });

  it('node started on src/main.ts itself (npm run dev, tsx) runs the CLI once', async () => {
    const r = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'main.ts'), '--version'], undefined, ROOT);
    expect(r).toMatchObject({ code: 0, stdout: `${version}\n` });
  });
});
