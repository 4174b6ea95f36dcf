/**
 * doppel as a user gets it: `npm pack` (its prepack builds dist/), the
 * tarball installed into a fresh project and into a global prefix, then
 * started the ways npm starts a dependency's bin: `npx doppel`,
 * node_modules/.bin/doppel, a package.json script, PREFIX/bin/doppel. The
 * fresh install holds doppel's dependencies only, so this also proves the
 * runtime needs no devDependency. The npm cache is warm in CI and here
 * (`--prefer-offline`); one pack and one install serve the whole file.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { recordTraffic, standardPlan, startService, type Service } from '../helpers/replay-fixtures.js';

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The environment of a user's shell: none of the npm_* variables the test
 * runner inherits from `npm test` (they would point npm at this checkout), and
 * no DOPPEL_ENTRY.
 */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && k !== 'DOPPEL_ENTRY' && k !== 'INIT_CWD') env[k] = v;
  return env;
}

function run(file: string, args: string[], cwd: string, timeout = 120_000): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, env: userEnv(), timeout, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

function ok(r: Ran, what: string): Ran {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

const INSTALL_FLAGS = ['--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];

describe('the npm package, installed', () => {
  let work: string;
  let tarball: string;
  let app: string;
  let version: string;
  let files: string[];
  let baseline: Service;
  let candidate: Service;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'doppel-pack-'));
    version = (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    const packDir = join(work, 'pack');
    await mkdir(packDir);
    ok(await run('npm', ['pack', '--pack-destination', packDir, '--loglevel=error'], ROOT, 240_000), 'npm pack');
    const tgz = readdirSync(packDir).filter((f) => f.endsWith('.tgz'));
    expect(tgz).toEqual([`doppel-${version}.tgz`]);
    tarball = join(packDir, tgz[0]!);
    files = ok(await run('tar', ['-tzf', tarball], work), 'tar -t')
      .stdout.split('\n')
      .filter(Boolean);

    // A project that gates its CI on doppel, as the README shows.
    baseline = await startService();
    candidate = await startService({ changeTotal: true });
    app = join(work, 'app');
    await mkdir(app);
    const traffic = join(work, 'traffic');
    await recordTraffic(baseline, traffic, standardPlan());
    writeFileSync(join(work, 'gates.yaml'), 'quality_gates:\n  body_match_rate: ">= 0.99"\ncutoffs:\n  min_requests: 10\n');
    await writeFile(
      join(app, 'package.json'),
      JSON.stringify({
        name: 'fresh-app',
        version: '1.0.0',
        private: true,
        scripts: { 'traffic-gate': `doppel replay --traffic ${traffic} --target ${candidate.url} --gates ${join(work, 'gates.yaml')} --report ${join(work, 'report')} --time-scale 1000 --log-level warn` },
      }),
    );
    ok(await run('npm', ['install', '--save-dev', ...INSTALL_FLAGS, tarball], app, 240_000), 'npm install');
  }, 480_000);
  afterAll(async () => {
    await baseline?.close();
    await candidate?.close();
    await rm(work, { recursive: true, force: true });
  });

  it('packs the bin, the build, the config example and the README; no sources, tests or source maps', () => {
    for (const f of ['package/package.json', 'package/README.md', 'package/bin/doppel.js', 'package/dist/main.js', 'package/dist/cli/program.js', 'package/config/doppel.example.yaml']) {
      expect(files, f).toContain(f);
    }
    // The judge worker starts from a sibling module of the build.
    expect(files.some((f) => /^package\/dist\/.*judge-worker\.js$/.test(f))).toBe(true);
    expect(files.filter((f) => /^package\/(src|test|bench|examples|docs)\//.test(f) || f.endsWith('.map') || f.endsWith('.ts'))).toEqual([]);
  });

  it('installs the build without sources; node started on dist/main.js itself runs the CLI too', async () => {
    expect(existsSync(join(app, 'node_modules', 'doppel', 'src'))).toBe(false);
    const r = await run(process.execPath, [join(app, 'node_modules', 'doppel', 'dist', 'main.js'), '--version'], app);
    expect(r).toMatchObject({ code: 0, stdout: `${version}\n` });
  });

  it('npx doppel --version prints the package version', async () => {
    const r = await run('npx', ['doppel', '--version'], app);
    expect(r).toMatchObject({ code: 0, stdout: `${version}\n` });
  });

  it('node_modules/.bin/doppel --help lists the commands, exit 0', async () => {
    const r = await run(join(app, 'node_modules', '.bin', 'doppel'), ['--help'], app);
    expect(r.code).toBe(0);
    for (const c of ['record', 'mock', 'replay', 'shadow', 'run']) expect(r.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
  });

  it('a package.json script whose replay fails its gate exits 1 with the verdict and the report', async () => {
    const r = await run('npm', ['run', '--silent', 'traffic-gate'], app);
    expect(r.stderr).not.toContain('internal error');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('FAILED');
    expect(r.stdout).toContain('body_match_rate');
    const summary = JSON.parse(await readFile(join(work, 'report', 'summary.json'), 'utf8')) as { verdict: string; counts: { requests: number } };
    expect(summary.verdict).toBe('fail');
    expect(summary.counts.requests).toBe(standardPlan().length);
  });

  it('npx doppel with bad input is exit 2, never a silent 0', async () => {
    const r = await run('npx', ['doppel', 'replay', '--target', candidate.url], app);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--traffic');
  });

  it('runs from a global install (npm i -g --prefix) as PREFIX/bin/doppel', async () => {
    const prefix = join(work, 'global');
    ok(await run('npm', ['install', '--global', '--prefix', prefix, ...INSTALL_FLAGS, tarball], work, 240_000), 'npm install --global');
    const bin = join(prefix, 'bin', 'doppel');
    expect(await run(bin, ['--version'], work)).toMatchObject({ code: 0, stdout: `${version}\n` });
    const r = await run(bin, ['rules', '--gates', join(work, 'gates.yaml')], work);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('doppel_gate_passing');
  }, 300_000);
});
